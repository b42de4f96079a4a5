//===- cuda_bf16.h - The simulator's stand-in for CUDA's cuda_bf16.h ------------*- C++ -*-===//
//
// On the include path of code compiled for the SIMT simulator, so that the
// kernel library's #include <cuda_bf16.h> finds runtime/sim/cuda_sim.h.
//
//===----------------------------------------------------------------------===//
#pragma once
#include "runtime/sim/cuda_sim.h"
