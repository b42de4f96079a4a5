// RUN: motif-opt %s --kernel-tile-attention="target=sm_80" | FileCheck %s --check-prefix=A100
// RUN: motif-opt %s --kernel-tile-attention="target=sm_90a" | FileCheck %s --check-prefix=H100
// RUN: motif-opt %s --kernel-tile-attention="target=sm_90a seq=256 batch=1" | FileCheck %s --check-prefix=SHORT
// RUN: not motif-opt %s --kernel-tile-attention="target=sm_75" 2>&1 | FileCheck %s --check-prefix=BAD
// Tiles from the cost model, per target and head dim, at the recipe's batch
// and sequence (B=8, T=2048 here); `kernel.cost` shows the estimate.

module attributes {motif.train = {batch = 8 : i64, sequence = 2048 : i64}} {
  // Head dim 64 (GPT-2's 12 heads of 64), causal, forward and backward.
  // A100: kernel.attention {{.*}}block_m = 128 : i64, block_n = 128 : i64, {{.*}}kernel.cost = {ctas_per_sm = 1 : i64, problem = "B=8 T=2048 Dh=64", smem = 114688 : i64, target = "sm_80"{{.*}}stages = 3 : i64, warps = 4 : i64
  // A100: kernel.attention_grad {{.*}}block_m = 128 : i64, block_n = 64 : i64, {{.*}}stages = 3 : i64, warps = 4 : i64
  // H100: kernel.attention {{.*}}block_m = 128 : i64, block_n = 128 : i64, {{.*}}target = "sm_90a"{{.*}}warps = 4 : i64
  // H100: kernel.attention_grad {{.*}}block_m = 128 : i64, block_n = 64 : i64
  func.func @d64(%q: tensor<?x?x768xf32>, %do: tensor<?x?x768xf32>) -> tensor<?x?x768xf32> {
    %o, %lse = kernel.attention %q, %q, %q {heads = 12 : i64, kv_heads = 12 : i64} : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> (tensor<?x?x768xf32>, tensor<?x12x?xf32>)
    %dq, %dk, %dv = kernel.attention_grad %q, %q, %q out %o lse %lse grad %do {heads = 12 : i64, kv_heads = 12 : i64} : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x12x?xf32>, tensor<?x?x768xf32>) -> (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>)
    return %dq : tensor<?x?x768xf32>
  }
  // Head dim 128, GQA (16 query heads on 4 KV heads), not causal: the A100's
  // smaller shared memory gives a 128x64 tile; the H100 takes 128x128 with 8
  // warps.
  // A100: kernel.attention {{.*}}block_m = 128 : i64, block_n = 64 : i64, {{.*}}Dh=128{{.*}}warps = 4 : i64
  // H100: kernel.attention {{.*}}block_m = 128 : i64, block_n = 128 : i64, {{.*}}Dh=128{{.*}}warps = 8 : i64
  func.func @d128(%q: tensor<?x?x2048xf32>, %k: tensor<?x?x512xf32>) -> tensor<?x?x2048xf32> {
    %o, %lse = kernel.attention %q, %k, %k {heads = 16 : i64, kv_heads = 4 : i64, causal = false} : (tensor<?x?x2048xf32>, tensor<?x?x512xf32>, tensor<?x?x512xf32>) -> (tensor<?x?x2048xf32>, tensor<?x16x?xf32>)
    return %o : tensor<?x?x2048xf32>
  }
}
// A short sequence at batch 1 has few query blocks: smaller tiles fill the
// multiprocessors better.
// SHORT: kernel.attention {{.*}}block_m = 64 : i64, {{.*}}problem = "B=1 T=256 Dh=64"
// BAD: error: unknown GPU target 'sm_75' (expected sm_80 or sm_90a)
