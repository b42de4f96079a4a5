// RUN: motif-opt %s --kernel-tile-attention="target=sm_80" | FileCheck %s --check-prefix=A100
// RUN: motif-opt %s --kernel-tile-attention="target=sm_90a" | FileCheck %s --check-prefix=H100
// RUN: motif-opt %s --kernel-tile-attention="target=sm_90a seq=256 batch=1" | FileCheck %s --check-prefix=SHORT
// RUN: motif-opt %s --kernel-tile-attention="target=sm_80,sm_90a" | FileCheck %s --check-prefix=BOTH
// RUN: not motif-opt %s --kernel-tile-attention="target=sm_75" 2>&1 | FileCheck %s --check-prefix=BAD
// Tiles from the cost model, per target and head dim, at the recipe's batch
// and sequence (B=8, T=2048 here); `kernel.cost` shows the estimate. The
// candidates are the kernel library's instantiations
// (runtime/cuda/kernels/attention_tiles.h), so every decision below is an
// entry of that table ({block_m, block_n, warps, stages}; stages is always 2,
// the kernels double-buffer), and `smem` is what the kernel allocates.

module attributes {motif.train = {batch = 8 : i64, sequence = 2048 : i64}} {
  // Head dim 64 (GPT-2's 12 heads of 64), causal, forward and backward:
  // the entries {128, 64, 4, 2} forward and {64, 64, 4, 2} backward (dK/dV:
  // 64 keys per block, 64 queries per step) on both targets.
  // A100-LABEL: func.func @d64
  // A100: kernel.attention {{.*}}block_m = 128 : i64, block_n = 64 : i64, {{.*}}kernel.cost = {ctas_per_sm = 3 : i64, problem = "B=8 T=2048 Dh=64", smem = 55296 : i64, target = "sm_80"{{.*}}stages = 2 : i64, warps = 4 : i64
  // A100: kernel.attention_grad {{.*}}block_m = 64 : i64, block_n = 64 : i64, {{.*}}smem = 56320 : i64{{.*}}stages = 2 : i64, warps = 4 : i64
  // H100-LABEL: func.func @d64
  // H100: kernel.attention {{.*}}block_m = 128 : i64, block_n = 64 : i64, {{.*}}target = "sm_90a"{{.*}}stages = 2 : i64, warps = 4 : i64
  // H100: kernel.attention_grad {{.*}}block_m = 64 : i64, block_n = 64 : i64, {{.*}}stages = 2 : i64, warps = 4 : i64
  func.func @d64(%q: tensor<?x?x768xf32>, %do: tensor<?x?x768xf32>) -> tensor<?x?x768xf32> {
    %o, %lse = kernel.attention %q, %q, %q {heads = 12 : i64, kv_heads = 12 : i64} : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> (tensor<?x?x768xf32>, tensor<?x12x?xf32>)
    %dq, %dk, %dv = kernel.attention_grad %q, %q, %q out %o lse %lse grad %do {heads = 12 : i64, kv_heads = 12 : i64} : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x12x?xf32>, tensor<?x?x768xf32>) -> (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>)
    return %dq : tensor<?x?x768xf32>
  }
  // Head dim 128, GQA (16 query heads on 4 KV heads), not causal: the
  // 128x128 tile with 8 warps needs 170 KB of shared memory, so the table
  // lists it for sm_90 only; the A100 takes {128, 64, 8, 2}.
  // A100-LABEL: func.func @d128
  // A100: kernel.attention {{.*}}block_m = 128 : i64, block_n = 64 : i64, {{.*}}Dh=128{{.*}}smem = 104448 : i64{{.*}}warps = 8 : i64
  // H100-LABEL: func.func @d128
  // H100: kernel.attention {{.*}}block_m = 128 : i64, block_n = 128 : i64, {{.*}}Dh=128{{.*}}smem = 174080 : i64{{.*}}warps = 8 : i64
  // An artifact for both runs one plan on both: estimated on the H100, among
  // the tiles the A100 has too.
  // BOTH-LABEL: func.func @d128
  // BOTH: kernel.attention {{.*}}block_m = 128 : i64, block_n = 64 : i64, {{.*}}target = "sm_90a"{{.*}}warps = 8 : i64
  func.func @d128(%q: tensor<?x?x2048xf32>, %k: tensor<?x?x512xf32>) -> tensor<?x?x2048xf32> {
    %o, %lse = kernel.attention %q, %k, %k {heads = 16 : i64, kv_heads = 4 : i64, causal = false} : (tensor<?x?x2048xf32>, tensor<?x?x512xf32>, tensor<?x?x512xf32>) -> (tensor<?x?x2048xf32>, tensor<?x16x?xf32>)
    return %o : tensor<?x?x2048xf32>
  }
  // Tiles already on the op that the library does not instantiate (three
  // stages, 32-key blocks) are replaced by a table entry.
  // A100-LABEL: func.func @replaced
  // A100: kernel.attention {{.*}}block_m = 128 : i64, block_n = 64 : i64, {{.*}}stages = 2 : i64, warps = 4 : i64
  func.func @replaced(%q: tensor<?x?x768xf32>) -> tensor<?x?x768xf32> {
    %o, %lse = kernel.attention %q, %q, %q {heads = 12 : i64, kv_heads = 12 : i64, block_m = 64 : i64, block_n = 32 : i64, warps = 4 : i64, stages = 3 : i64} : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> (tensor<?x?x768xf32>, tensor<?x12x?xf32>)
    return %o : tensor<?x?x768xf32>
  }
  // Head dim 16 (a tiny model's 4 heads of 16): the library has no kernel
  // for it, so no tile is chosen (the tiles stay 0, elided) and `kernel.cost`
  // says why; a GPU backend refuses the step.
  // A100-LABEL: func.func @no_kernel
  // A100: kernel.attention %{{.*}} {heads = 4 : i64, kernel.cost = {note = "no kernel is instantiated for this head dim", problem = "B=8 T=2048 Dh=16", target = "sm_80"}, kv_heads = 4 : i64}
  func.func @no_kernel(%q: tensor<?x?x64xf32>) -> tensor<?x?x64xf32> {
    %o, %lse = kernel.attention %q, %q, %q {heads = 4 : i64, kv_heads = 4 : i64, block_m = 64 : i64, block_n = 64 : i64, warps = 4 : i64, stages = 2 : i64} : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> (tensor<?x?x64xf32>, tensor<?x4x?xf32>)
    return %o : tensor<?x?x64xf32>
  }
  // Head dims 32 (8 heads of 32) and 96 have entries of their own: a tile
  // of the table is chosen, forward and backward, on both targets.
  // A100-LABEL: func.func @d32
  // A100: kernel.attention {{.*}}block_m = 128 : i64, block_n = 128 : i64, {{.*}}problem = "B=8 T=2048 Dh=32", smem = 51200 : i64, target = "sm_80"{{.*}}stages = 2 : i64, warps = 8 : i64
  // A100: kernel.attention_grad {{.*}}block_m = 64 : i64, block_n = 64 : i64, {{.*}}Dh=32{{.*}}smem = 31744 : i64{{.*}}stages = 2 : i64, warps = 4 : i64
  // H100-LABEL: func.func @d32
  // H100: kernel.attention {{.*}}block_m = 128 : i64, block_n = 128 : i64, {{.*}}Dh=32{{.*}}target = "sm_90a"{{.*}}warps = 8 : i64
  // H100: kernel.attention_grad {{.*}}block_m = 64 : i64, block_n = 64 : i64, {{.*}}Dh=32{{.*}}warps = 4 : i64
  func.func @d32(%q: tensor<?x?x256xf32>, %do: tensor<?x?x256xf32>) -> tensor<?x?x256xf32> {
    %o, %lse = kernel.attention %q, %q, %q {heads = 8 : i64, kv_heads = 8 : i64} : (tensor<?x?x256xf32>, tensor<?x?x256xf32>, tensor<?x?x256xf32>) -> (tensor<?x?x256xf32>, tensor<?x8x?xf32>)
    %dq, %dk, %dv = kernel.attention_grad %q, %q, %q out %o lse %lse grad %do {heads = 8 : i64, kv_heads = 8 : i64} : (tensor<?x?x256xf32>, tensor<?x?x256xf32>, tensor<?x?x256xf32>, tensor<?x?x256xf32>, tensor<?x8x?xf32>, tensor<?x?x256xf32>) -> (tensor<?x?x256xf32>, tensor<?x?x256xf32>, tensor<?x?x256xf32>)
    return %dq : tensor<?x?x256xf32>
  }
  // A100-LABEL: func.func @d96
  // A100: kernel.attention {{.*}}block_m = 128 : i64, block_n = 128 : i64, {{.*}}Dh=96{{.*}}smem = 133120 : i64{{.*}}warps = 8 : i64
  // A100: kernel.attention_grad {{.*}}block_m = 32 : i64, block_n = 128 : i64, {{.*}}Dh=96{{.*}}smem = 80384 : i64{{.*}}warps = 8 : i64
  func.func @d96(%q: tensor<?x?x768xf32>, %do: tensor<?x?x768xf32>) -> tensor<?x?x768xf32> {
    %o, %lse = kernel.attention %q, %q, %q {heads = 8 : i64, kv_heads = 8 : i64} : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> (tensor<?x?x768xf32>, tensor<?x8x?xf32>)
    %dq, %dk, %dv = kernel.attention_grad %q, %q, %q out %o lse %lse grad %do {heads = 8 : i64, kv_heads = 8 : i64} : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x8x?xf32>, tensor<?x?x768xf32>) -> (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>)
    return %dq : tensor<?x?x768xf32>
  }
}
// A short sequence at batch 1 has few query blocks: the smaller entries
// ({64, 64, 4, 2}) fill the multiprocessors better, forward and backward, at
// both head dims.
// SHORT-LABEL: func.func @d64
// SHORT: kernel.attention {{.*}}block_m = 64 : i64, block_n = 64 : i64, {{.*}}problem = "B=1 T=256 Dh=64"{{.*}}warps = 4 : i64
// SHORT: kernel.attention_grad {{.*}}block_m = 64 : i64, block_n = 64 : i64, {{.*}}warps = 4 : i64
// SHORT-LABEL: func.func @d128
// SHORT: kernel.attention {{.*}}block_m = 64 : i64, block_n = 64 : i64, {{.*}}problem = "B=1 T=256 Dh=128"{{.*}}warps = 4 : i64
// BAD: error: unknown GPU target 'sm_75' (expected sm_80 or sm_90a)
