// RUN: motif-opt %s -split-input-file --motif-lower-scan | FileCheck %s --check-prefix=CPU
// RUN: motif-opt %s -split-input-file --motif-lower-scan="target=sm_80" | FileCheck %s --check-prefix=A100
// RUN: motif-opt %s -split-input-file --motif-lower-scan="target=sm_90a" | FileCheck %s --check-prefix=H100
// RUN: motif-opt %s -split-input-file --motif-lower-scan="target=sm_90a seq=512 batch=1" | FileCheck %s --check-prefix=SHORT
// RUN: motif-opt %s -split-input-file --motif-lower-scan="chunk=32" | FileCheck %s --check-prefix=FORCED
// RUN: not motif-opt %s -split-input-file --motif-lower-scan="target=sm_100" 2>&1 | FileCheck %s --check-prefix=BAD

// Each scan still in the sequential form (chunk 0) gets the chunk of the cost
// model for the target, and the estimate beside it. The CPU (16 threads) has
// parallelism to spare across batch x channels: long chunks, fewer states.
// GPUs need the chunks for parallelism where batch x channels is small.

// Mamba-130M's scan: D = 1536, N = 16, at the default problem (B=8, T=2048).
func.func @mamba(%u: tensor<?x?x1536xf32>, %A: tensor<1536x16xf32>, %B: tensor<?x?x16xf32>) -> tensor<?x?x1536xf32> {
  %y = motif.selective_scan %u, %u, %A, %B, %B : (tensor<?x?x1536xf32>, tensor<?x?x1536xf32>, tensor<1536x16xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>) -> tensor<?x?x1536xf32>
  return %y : tensor<?x?x1536xf32>
}

// CPU-LABEL: func.func @mamba
// CPU: motif.selective_scan {{.*}}{chunk = 256 : i64, motif.scan_cost = {problem = "B=8 T=2048 C=1536 N=16", target = "cpu", us = "{{[0-9.]+}}"}}
// A100-LABEL: func.func @mamba
// A100: motif.selective_scan {{.*}}{chunk = 128 : i64, motif.scan_cost = {problem = "B=8 T=2048 C=1536 N=16", target = "sm_80"
// H100-LABEL: func.func @mamba
// H100: motif.selective_scan {{.*}}{chunk = 128 : i64, motif.scan_cost = {problem = "B=8 T=2048 C=1536 N=16", target = "sm_90a"
// The options override the recipe's batch and sequence:
// SHORT-LABEL: func.func @mamba
// SHORT: chunk = {{[0-9]+}} : i64, motif.scan_cost = {problem = "B=1 T=512 C=1536 N=16"
// FORCED-LABEL: func.func @mamba
// FORCED: {chunk = 32 : i64, motif.scan_cost = {note = "chunk set by the option"

// -----

// Little parallelism across channels: one sequence of 64 channels, 4096 steps.
func.func @narrow(%u: tensor<1x4096x64xf32>, %A: tensor<64x16xf32>, %B: tensor<1x4096x16xf32>) -> tensor<1x4096x64xf32> {
  %y = motif.selective_scan %u, %u, %A, %B, %B : (tensor<1x4096x64xf32>, tensor<1x4096x64xf32>, tensor<64x16xf32>, tensor<1x4096x16xf32>, tensor<1x4096x16xf32>) -> tensor<1x4096x64xf32>
  return %y : tensor<1x4096x64xf32>
}
// CPU-LABEL: func.func @narrow
// CPU: chunk = 256 : i64, motif.scan_cost = {problem = "B=1 T=4096 C=64 N=16", target = "cpu"
// A100-LABEL: func.func @narrow
// A100: chunk = 64 : i64
// H100-LABEL: func.func @narrow
// H100: chunk = 64 : i64


// -----

// A gated linear recurrence over 4096 channels, and one whose chunk is set.
func.func @gated(%x: tensor<?x?x4096xf32>, %a: tensor<?x?x4096xf32>) -> tensor<?x?x4096xf32> {
  %h = motif.scan %x, %a : (tensor<?x?x4096xf32>, tensor<?x?x4096xf32>) -> tensor<?x?x4096xf32>
  %k = motif.scan %h, %a {chunk = 8 : i64} : (tensor<?x?x4096xf32>, tensor<?x?x4096xf32>) -> tensor<?x?x4096xf32>
  return %k : tensor<?x?x4096xf32>
}
// A chunk already chosen is kept.
// CPU-LABEL: func.func @gated
// CPU: motif.scan {{.*}}{chunk = 256 : i64, motif.scan_cost = {problem = "B=8 T=2048 C=4096 N=1", target = "cpu"
// CPU: motif.scan {{.*}}{chunk = 8 : i64} :
// H100-LABEL: func.func @gated
// H100: motif.scan {{.*}}{chunk = 256 : i64
// H100: motif.scan {{.*}}{chunk = 8 : i64} :

// -----

// A short sequence: no chunk longer than it needs.
func.func @short(%u: tensor<2x40x32xf32>, %A: tensor<32x8xf32>, %B: tensor<2x40x8xf32>) -> tensor<2x40x32xf32> {
  %y = motif.selective_scan %u, %u, %A, %B, %B : (tensor<2x40x32xf32>, tensor<2x40x32xf32>, tensor<32x8xf32>, tensor<2x40x8xf32>, tensor<2x40x8xf32>) -> tensor<2x40x32xf32>
  return %y : tensor<2x40x32xf32>
}
// CPU-LABEL: func.func @short
// CPU: chunk = 16 : i64, motif.scan_cost = {problem = "B=2 T=40 C=32 N=8", target = "cpu"

// BAD: unknown scan target 'sm_100' (expected cpu, sm_80 or sm_90a)

// -----

// Mamba-2-130M's SSD (24 heads of 64, one group, a state of 128) at the default
// problem (B=8, T=2048): the GPUs, whose matmuls are cheap against memory,
// take Mamba-2's long chunks (fewer [64, 128] chunk states to pass); the CPU,
// compute-bound, the shortest (its intra-chunk matmul grows with the chunk).
func.func @mamba2(%x: tensor<?x?x24x64xf32>, %a: tensor<?x?x24xf32>, %B: tensor<?x?x1x128xf32>) -> tensor<?x?x24x64xf32> {
  %y = motif.ssd %x, %a, %B, %B : (tensor<?x?x24x64xf32>, tensor<?x?x24xf32>, tensor<?x?x1x128xf32>, tensor<?x?x1x128xf32>) -> tensor<?x?x24x64xf32>
  return %y : tensor<?x?x24x64xf32>
}
// CPU-LABEL: func.func @mamba2
// CPU: motif.ssd {{.*}}{chunk = 16 : i64, motif.scan_cost = {problem = "B=8 T=2048 H=24 P=64 G=1 N=128", target = "cpu", us = "{{[0-9.]+}}"}}
// A100-LABEL: func.func @mamba2
// A100: motif.ssd {{.*}}{chunk = 256 : i64, motif.scan_cost = {problem = "B=8 T=2048 H=24 P=64 G=1 N=128", target = "sm_80"
// H100-LABEL: func.func @mamba2
// H100: motif.ssd {{.*}}{chunk = 256 : i64, motif.scan_cost = {problem = "B=8 T=2048 H=24 P=64 G=1 N=128", target = "sm_90a"
// SHORT-LABEL: func.func @mamba2
// SHORT: motif.ssd {{.*}}{chunk = {{[0-9]+}} : i64, motif.scan_cost = {problem = "B=1 T=512 H=24 P=64 G=1 N=128"
// FORCED-LABEL: func.func @mamba2
// FORCED: motif.ssd {{.*}}{chunk = 32 : i64, motif.scan_cost = {note = "chunk set by the option"

// -----

// Gated linear attention (a decay per key channel), its chunk already set: kept.
func.func @gla(%x: tensor<?x?x4x256xf32>, %a: tensor<?x?x4x128xf32>, %k: tensor<?x?x4x128xf32>) -> tensor<?x?x4x256xf32> {
  %y = motif.ssd %x, %a, %k, %k {chunk = 64 : i64} : (tensor<?x?x4x256xf32>, tensor<?x?x4x128xf32>, tensor<?x?x4x128xf32>, tensor<?x?x4x128xf32>) -> tensor<?x?x4x256xf32>
  return %y : tensor<?x?x4x256xf32>
}
// CPU-LABEL: func.func @gla
// CPU: motif.ssd {{.*}}{chunk = 64 : i64} :
// H100-LABEL: func.func @gla
// H100: motif.ssd {{.*}}{chunk = 64 : i64} :
