//===- cuda_runtime.h - The simulator's stand-in for CUDA's cuda_runtime.h ------------*- C++ -*-===//
//
// On the include path of code compiled for the SIMT simulator, so that the
// kernel library's #include <cuda_runtime.h> finds runtime/sim/cuda_sim.h.
//
//===----------------------------------------------------------------------===//
#pragma once
#include "runtime/sim/cuda_sim.h"
