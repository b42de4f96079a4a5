//===- Passes.td - Motif compiler passes -------------------*- tablegen -*-===//
#ifndef MOTIF_COMPILER_TRANSFORMS_PASSES_TD
#define MOTIF_COMPILER_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def MotifAutodiffPass : Pass<"motif-autodiff", "::mlir::ModuleOp"> {
  let summary = "Builds the train step: forward, loss and backward";
  let description = [{
    Clones `@forward` into `@train_step` and appends the backward: walking the
    forward ops in reverse, each op that leads from a trained parameter to the
    loss builds its vector-Jacobian product through MotifVJPOpInterface (so the
    pass knows no op by name). Gradients reaching a value more than once are
    summed. `@train_step` returns the loss and then one gradient per trained
    parameter, in declaration order, each marked `{motif.grad = @name}`.
    Frozen parameters and model inputs get no gradient; ops that lead to no
    trained parameter get no backward. The forward values the backward does not
    read are not referenced by it, so memory planning can free them.
  }];
  let dependentDialects = ["::mlir::motif::MotifDialect",
                           "::mlir::func::FuncDialect"];
  let options = [
    Option<"keepForward", "keep-forward", "bool", /*default=*/"true",
           "Keep @forward (for inference) beside @train_step">
  ];
}

def MotifGroupExpertsPass : Pass<"motif-group-experts", "::mlir::ModuleOp"> {
  let summary = "Rewrites each motif.moe as route, permute, grouped GEMMs and combine";
  let description = [{
    Runs before autodiff. Each `motif.moe` becomes the router's logits
    (`motif.linear`), `motif.moe_route` (the routing decision as assignments
    with gates, and the auxiliary loss), `motif.moe_permute` (the assignments'
    rows grouped by expert, with per-expert offsets; switch's capacity drops
    here), the expert body run once over all rows with each `motif.linear` a
    `motif.grouped_linear` over the stacked weights, and `motif.moe_combine`
    (the gate-weighted un-permutation, in a fixed order); shared experts run
    their body densely on every token with their slice of the weights. Every
    size is a function of the token count and the attributes (sizes the types
    show when the input's are static). Bodies with ops that are not row-wise,
    or that read a per-expert parameter outside a linear, are errors naming
    the op.

    With `dense`, the reference form instead (`motif-compile
    --no-expert-grouping`): the same routing (and, for switch's capacity, the
    same permutation's `row_of`) as dense gates `[..., E]`
    (`motif.moe_gates`), and each expert's body over every token with its
    slice of the stacked weights, weighted by its column of the gates; any
    body op is allowed.
  }];
  let options = [
    Option<"dense", "dense", "bool", /*default=*/"false",
           "Every expert over every token, weighted by dense gates (the "
           "reference for the grouped form)">,
  ];
  let dependentDialects = ["::mlir::motif::MotifDialect"];
}

def MotifLowerScanPass : Pass<"motif-lower-scan", "::mlir::ModuleOp"> {
  let summary = "Chooses the chunked form of every scan from a cost model";
  let description = [{
    Sets `chunk` on each `motif.scan` and `motif.selective_scan` whose
    `chunk` is 0 (the sequential form, which stays the reference): the op
    then runs as a chunked scan, every chunk of `chunk` steps scanned in
    parallel from a zero state, a short sequential pass over the chunks
    carrying the states between them (for the selective scan, the decay
    across a chunk taken in log space, `exp(A Σ dt)`), and every chunk scanned
    again from its incoming state. Its backward (the `motif.vjp` the autodiff
    pass builds through the op's VJP interface, which carries `chunk`) is the
    reverse chunked scan, recomputing each chunk's states from its incoming
    state. The chunk is the fastest of 16 to 256 steps in an analytic model
    of the three phases on the target (ScanCostModel.cpp), for the op's
    channels and state at the recipe's batch and sequence (or the options);
    `motif.scan_cost` records the target, the problem and the estimate.
    It runs before autodiff, so that the forward and the backward agree.
    `motif.ssd` (Mamba-2's SSD, gated linear attention) gets its chunk from
    a model of the chunked SSD (intra-chunk matmuls, chunk states) instead.
  }];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"cpu\"",
           "The target to choose for (cpu, sm_80, sm_90a)">,
    Option<"seq", "seq", "int", /*default=*/"0",
           "Sequence length to choose for (default: the recipe's, else 2048)">,
    Option<"batch", "batch", "int", /*default=*/"0",
           "Batch to choose for (default: the recipe's, else 8)">,
    Option<"chunk", "chunk", "int", /*default=*/"0",
           "Use this chunk for every scan instead of the cost model's">
  ];
}

def MotifLowerToKernelPass : Pass<"motif-lower-to-kernel", "::mlir::ModuleOp"> {
  let summary = "Lowers motif ops to kernel-level ops: GEMMs, tiled attention, fused kernels";
  let description = [{
    `motif.linear` and `motif.matmul` become `kernel.gemm` (the bias in the
    epilogue); their backward becomes one GEMM per wanted gradient, the weight
    gradient summing over every row and making the bias gradient in the same
    pass. `motif.attention` and its backward become `kernel.attention` (which
    also gives the log-sum-exp) and `kernel.attention_grad`. Each elementwise
    op becomes a `kernel.fused` of one op. Every other op stays: it is one
    library kernel of the backend.
  }];
  let dependentDialects = ["::mlir::kernel::KernelDialect"];
}

def KernelFuseLinearCrossEntropyPass : Pass<"kernel-fuse-linear-cross-entropy", "::mlir::ModuleOp"> {
  let summary = "Fuses a train step's output projection, its loss and their backward";
  let description = [{
    `logits = kernel.gemm x, w {transpose_b}` read only by
    `motif.cross_entropy` and its `motif.vjp`, whose gradient is the
    backward's seed (1), and whose dlogits feed only `dx = dlogits·w` and
    `dw = dlogitsᵀ·x`, become one `kernel.linear_cross_entropy` giving the
    loss, dx and dw chunk by chunk: the logits are never all in memory.
  }];
}

def KernelFusePass : Pass<"kernel-fuse", "::mlir::ModuleOp"> {
  let summary = "Fuses elementwise chains and GEMM epilogues";
  let description = [{
    A `kernel.gemm` whose result only feeds a one-op fused kernel that applies
    an activation (relu, gelu, gelu_tanh, silu), adds a same-shaped tensor (a
    residual) or adds a vector of the last dim (a bias) takes that op into its
    epilogue, `d = act(a·b + bias) + residual`; an activation whose input the
    backward also reads (training) stays a kernel. A `kernel.fused` whose
    results another `kernel.fused` reads is merged into it; results still
    read elsewhere become extra results of the merged kernel. Reads of a
    value's shape only (a `motif.vjp` that does not save it) do not prevent a
    fusion. Softmax with cross-entropy is already one kernel
    (`motif.cross_entropy` and its backward never materialize probabilities).
  }];
  let options = [
    Option<"epilogues", "epilogues", "bool", /*default=*/"true",
           "Fold activations, residuals and biases into GEMM epilogues">
  ];
}

def KernelTileAttentionPass : Pass<"kernel-tile-attention", "::mlir::ModuleOp"> {
  let summary = "Chooses the tiles of every tiled attention from a cost model";
  let description = [{
    Sets `block_m`, `block_n`, `warps` and `stages` of each `kernel.attention`
    and `kernel.attention_grad` to the fastest candidate of an analytic model
    of a FlashAttention-2 kernel on the target (AttentionCostModel.cpp). The
    candidates are the kernel library's instantiations for the head dim that
    exist on every target the artifact is built for
    (runtime/cuda/kernels/attention_tiles.h), estimated on the newest; where
    there are none, the tiles stay 0 and `kernel.cost` says so. Shared memory and
    registers must fit; the estimate is the larger of
    tensor-core time (FLOPs over the peak times an efficiency that grows with
    the tile) and memory time (K and V re-read per query block, mostly from
    L2), divided by the wave efficiency of the grid over the multiprocessors.
    The problem is the op's heads and head dim at the recipe's batch and
    sequence (or the options). `kernel.cost` records the target, problem,
    estimated microseconds, shared memory and blocks per multiprocessor.
  }];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"sm_90a\"",
           "The GPUs the artifact runs on (sm_80, sm_90a, or both, comma-separated): "
           "the cost model is the newest's, the tiles exist on all">,
    Option<"seq", "seq", "int", /*default=*/"0",
           "Sequence length to tune for (default: the recipe's, else 2048)">,
    Option<"batch", "batch", "int", /*default=*/"0",
           "Batch to tune for (default: the recipe's, else 8)">
  ];
}

def KernelRecomputeAttentionPass : Pass<"kernel-recompute-attention", "::mlir::ModuleOp"> {
  let summary = "Recomputes attention in the backward instead of keeping its output";
  let description = [{
    Trades compute for memory: each `kernel.attention` whose output or
    log-sum-exp the backward reads (its own backward, and the weight gradient
    of the projection after it) runs again right before the first such read,
    and the backward reads the copy. The forward's output then dies after its
    last forward use. Costs one more attention forward per layer (about 2/7 of
    the attention's training FLOPs); saves `B·T·(heads·Dh·dtype + heads·4)`
    bytes per layer from the peak. The backward begins at the op the autodiff
    pass marks `motif.backward_begins`.
  }];
}

def KernelPlanMemoryPass : Pass<"kernel-plan-memory", "::mlir::ModuleOp"> {
  let summary = "Shows each buffer's size, lifetime and arena offset";
  let description = [{
    Annotates every top-level op with `kernel.mem`: per result, its size in
    bytes as a polynomial in the symbolic dims of the inputs (`4*B*T*768`),
    the steps during which its data is live (a backward that reads a value
    for its shape only does not extend it), and its offset in the arena for
    the dims given by `dims` or the recipe's batch and sequence; parameters
    say `param`. The function gets `kernel.arena`: the arena's size and the
    sum of all buffers without reuse. The artifact writer computes the same
    plan (compiler/Transforms/PlanMemory.h) and the runtime places buffers
    with the same code (runtime/core/MemoryPlan.h).
  }];
  let options = [
    Option<"dims", "dims", "std::string", /*default=*/"\"\"",
           "Sizes of the symbolic dims, e.g. B=16,T=1024 (default: the recipe's)">
  ];
}

def KernelAssignStoragePass : Pass<"kernel-assign-storage", "::mlir::ModuleOp"> {
  let summary = "Decides the storage precision (bf16 or f32) of every value";
  let description = [{
    Under a bf16 recipe (`precision = "bf16"` in `motif.train`, or the
    `precision` option) every floating-point value is stored in bf16 except
    what must stay f32: the losses and parameter gradients a function
    returns, the second result of `kernel.attention` (the log-sum-exp) and of
    `motif.moe` (the auxiliary loss), `motif.cross_entropy`'s loss, and the
    fixed-size inputs of a `kernel.fused` whose result stays f32 (the partial
    sums of a tied parameter's gradient), found walking the function's ops
    backwards. Under any other precision floats are stored in f32; integer
    values keep their type. Records the decision as `kernel.storage`: on each
    op, one type per result; on each function argument; and, on an op with
    regions, `kernel.arg_storage` (per region, one type per block argument).
    The artifact writer copies it into the plan; the GPU runtime obeys it.
  }];
  let options = [
    Option<"precision", "precision", "std::string", /*default=*/"\"\"",
           "bf16, fp32 or fp16 (default: the recipe's; f32 without one)">
  ];
}

def MotifDeriveInferencePass : Pass<"motif-derive-inference", "::mlir::ModuleOp"> {
  let summary = "Derives @prefill and @decode_step, with their state, from @forward";
  let description = [{
    Clones `@forward` (its outputs only; the loss and the inputs only it reads
    are dropped) twice. `@prefill(tokens, lengths)` runs a batch of prompts
    (right-padded; `lengths: [B]` their true lengths) and returns the outputs
    and, per stateful layer, its state; `@decode_step(tokens, pos, state...)`
    takes one new token per sequence at position `pos: [B]` and returns the
    outputs at that position and the next state. One state plan covers every
    kind of layer: a causal self-attention keeps its KV heads' keys and values
    (`kernel.state_fill` in prefill, `kernel.attention_decode` in the step)
    for the whole context, or a ring buffer of its window when it has one; a
    causal depthwise conv1d its last K-1 inputs (`kernel.conv1d_step`); a
    selective scan its state (`kernel.selective_scan_state`, then
    `motif.selective_scan_step`); a diagonal recurrence its last state
    (`motif.scan_step`). Positions (`motif.positions`, rope) become each
    sequence's own. Each state argument and result is named
    `motif.state = "<layer>.<k|v|conv|ssm|h>"` and the module gets
    `motif.state_layout`: per state its name, kind, slots and row width. An
    encoder-decoder (two token inputs, the source read by the decoder only
    as cross-attention's keys and values) gets `@prefill(tokens, lengths,
    source, source_lengths)`: the encoder runs once, masked to each source's
    length (`kernel.attention_padded`), and each cross-attention keeps the
    encoder's keys and values (`cross_kv`, as many slots as the context) for
    the step; T5's relative position bias becomes `kernel.attention_decode_rel`
    in the step. A model with a layer that has no decode form (bidirectional
    attention in a decoder, other convolutions, routing with capacity) gets no
    inference functions: with `required` that is an error naming the op,
    else the reason is recorded in `motif.inference_unsupported`.
  }];
  let dependentDialects = ["::mlir::motif::MotifDialect", "::mlir::kernel::KernelDialect",
                           "::mlir::func::FuncDialect"];
  let options = [
    Option<"context", "context", "int64_t", /*default=*/"0",
           "Positions a KV cache holds (0: the model's `ctx` parameter, else its recipe's "
           "`sequence`, else 4096)">,
    Option<"required", "required", "bool", /*default=*/"true",
           "Fail when the model cannot be decoded step by step">
  ];
}

#endif // MOTIF_COMPILER_TRANSFORMS_PASSES_TD
