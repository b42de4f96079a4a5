//===- cuda_runtime_api.h - The simulator's stand-in for CUDA's cuda_runtime_api.h -*- C++ -*-===//
//
// On the include path of code compiled for the SIMT simulator, so that the
// kernels' #include <cuda_runtime_api.h> finds
// runtime/sim/cuda_sim.h.
//
//===----------------------------------------------------------------------===//
#pragma once
#include "runtime/sim/cuda_sim.h"
