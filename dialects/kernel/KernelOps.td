//===- KernelOps.td - The kernel dialect -------------------*- tablegen -*-===//
//
// The execution level: every op of a function in this dialect is one kernel
// launch or one library call of the plan. Values keep tensor semantics; the
// memory planner (compiler/Transforms/PlanMemory.cpp) gives them buffers.
// A `motif` op that no pass rewrote stays as it is and runs as the backend's
// library kernel for that op (docs/dialect.md, "Kernel level").
//
//===----------------------------------------------------------------------===//
#ifndef KERNEL_OPS_TD
#define KERNEL_OPS_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/EnumAttr.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"

def Kernel_Dialect : Dialect {
  let name = "kernel";
  let cppNamespace = "::mlir::kernel";
  let summary = "Kernels, library calls and tile choices of the Motif compiler";
  let useDefaultAttributePrinterParser = 1;
  let description = [{
    What the GPU runs: GEMMs through cuBLASLt with fused epilogues, fused
    elementwise kernels (a region of `motif` elementwise ops), and templated
    kernels whose tile parameters are attributes (tiled attention). The CPU
    backend executes the same ops.
  }];
}

class Kernel_Op<string mnemonic, list<Trait> traits = []>
    : Op<Kernel_Dialect, mnemonic, traits>;

def Kernel_Tensor : RankedTensorOf<[AnyType]>;

def Kernel_Epilogue : I32EnumAttr<"Epilogue", "activation after a GEMM", [
    I32EnumAttrCase<"None", 0, "none">,
    I32EnumAttrCase<"Relu", 1, "relu">,
    I32EnumAttrCase<"Gelu", 2, "gelu">,
    I32EnumAttrCase<"GeluTanh", 3, "gelu_tanh">,
    I32EnumAttrCase<"Silu", 4, "silu">]> {
  let cppNamespace = "::mlir::kernel";
  let genSpecializedAttr = 0;
}
def Kernel_EpilogueAttr : EnumAttr<Kernel_Dialect, Kernel_Epilogue, "epilogue"> {
  let assemblyFormat = "`<` $value `>`";
}

//===----------------------------------------------------------------------===//
// GEMM
//===----------------------------------------------------------------------===//

def Kernel_GemmOp : Kernel_Op<"gemm", [Pure, AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "a GEMM with a fused epilogue (cuBLASLt on the GPU)";
  let description = [{
    `d = act(op(a) · op(b) + bias) + residual`, where `op` transposes the last
    two dims when `transpose_a` / `transpose_b` is set. Leading (batch) dims
    broadcast as in `motif.matmul`. With `rows`, each operand is viewed as a
    matrix `[rows, last dim]` (all leading dims flattened), which is how a
    weight gradient `dW = dyᵀ · x` sums over batch and sequence. `bias` has
    the size of the last result dim. Extra results: with `bias_grad` (and
    `rows`, `transpose_a`), the sums of `a` over its rows, the bias gradient
    `db = Σ dy` made in the same pass as `dW = dyᵀ · x` (cuBLASLt's BGRADA
    epilogue); with `keep_pre` (and an activation), the pre-activation
    `a · b + bias`, which the activation's backward reads (GELU_AUX).
    ```mlir
    %y = kernel.gemm %x, %w bias %b {transpose_b, epilogue = #kernel.epilogue<gelu_tanh>}
        : (tensor<?x?x768xf32>, tensor<3072x768xf32>, tensor<3072xf32>) -> tensor<?x?x3072xf32>
    %y, %pre = kernel.gemm %x, %w bias %b {transpose_b, keep_pre, epilogue = #kernel.epilogue<gelu_tanh>}
        : (tensor<?x?x768xf32>, tensor<3072x768xf32>, tensor<3072xf32>) -> (tensor<?x?x3072xf32>, tensor<?x?x3072xf32>)
    %dw, %db = kernel.gemm %dy, %x {rows, transpose_a, bias_grad}
        : (tensor<?x?x3072xf32>, tensor<?x?x768xf32>) -> (tensor<3072x768xf32>, tensor<3072xf32>)
    ```
  }];
  let arguments = (ins Kernel_Tensor:$a, Kernel_Tensor:$b,
                       Optional<Kernel_Tensor>:$bias, Optional<Kernel_Tensor>:$residual,
                       UnitAttr:$transpose_a, UnitAttr:$transpose_b, UnitAttr:$rows,
                       UnitAttr:$bias_grad, UnitAttr:$keep_pre,
                       DefaultValuedAttr<Kernel_EpilogueAttr, "::mlir::kernel::Epilogue::None">:$epilogue);
  let results = (outs Kernel_Tensor:$d, Variadic<Kernel_Tensor>:$extra);
  let assemblyFormat = [{
    $a `,` $b (`bias` $bias^)? (`residual` $residual^)? attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Fused elementwise kernels
//===----------------------------------------------------------------------===//

def Kernel_FusedOp : Kernel_Op<"fused", [RecursiveMemoryEffects,
    SingleBlockImplicitTerminator<"YieldOp">, IsolatedFromAbove]> {
  let summary = "one kernel computing a chain of elementwise ops";
  let description = [{
    The region's block takes one argument per input (same types) and holds
    `motif` elementwise ops (unary, binary with broadcasting); `kernel.yield`
    names the results, which leave the kernel. Values inside never reach
    memory. The fusion pass grows these by absorbing producers and consumers.
    ```mlir
    %y = kernel.fused (%a, %b) : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32> {
    ^bb0(%x: tensor<?x64xf32>, %c: tensor<64xf32>):
      %s = motif.add %x, %c : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
      %g = motif.gelu %s : tensor<?x64xf32>
      kernel.yield %g : tensor<?x64xf32>
    }
    ```
  }];
  let arguments = (ins Variadic<Kernel_Tensor>:$inputs);
  let results = (outs Variadic<Kernel_Tensor>:$results);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    `(` $inputs `)` attr-dict `:` functional-type($inputs, $results) $body
  }];
  let hasRegionVerifier = 1;
}

def Kernel_YieldOp : Kernel_Op<"yield", [Pure, Terminator, ReturnLike,
    HasParent<"FusedOp">]> {
  let summary = "the results of a fused kernel";
  let arguments = (ins Variadic<Kernel_Tensor>:$values);
  let builders = [OpBuilder<(ins), [{ /* empty */ }]>];
  let assemblyFormat = "($values^ `:` type($values))? attr-dict";
}

//===----------------------------------------------------------------------===//
// Tiled attention
//===----------------------------------------------------------------------===//

class Kernel_AttentionBase<string mnemonic, list<Trait> traits = []>
    : Kernel_Op<mnemonic, !listconcat(traits, [Pure,
        DeclareOpInterfaceMethods<InferTypeOpInterface>])> {
  // Attributes shared by forward and backward: motif.attention's, then the
  // tiles (0 until the attention tiling pass chooses them).
  dag commonAttrs = (ins I64Attr:$heads, I64Attr:$kv_heads,
                         DefaultValuedAttr<BoolAttr, "true">:$causal,
                         DefaultValuedAttr<I64Attr, "0">:$window,
                         DefaultValuedAttr<F64Attr, "0.0">:$scale,
                         DefaultValuedAttr<I64Attr, "0">:$block_m,
                         DefaultValuedAttr<I64Attr, "0">:$block_n,
                         DefaultValuedAttr<I64Attr, "0">:$warps,
                         DefaultValuedAttr<I64Attr, "0">:$stages);
}

def Kernel_AttentionOp : Kernel_AttentionBase<"attention"> {
  let summary = "tiled online-softmax attention (FlashAttention-2 forward)";
  let description = [{
    The semantics of `motif.attention` (same operands and attributes) computed
    tile by tile: each block of `block_m` queries streams `block_n` keys at a
    time with a running maximum and sum, so the `Tq×Tk` scores never reach
    memory; tiles that the causal mask or the window hide entirely are
    skipped. Query head `h` reads key/value head `h / (heads / kv_heads)` by
    index, with no copies. Besides the output, gives the log-sum-exp of each
    query row `[B, heads, Tq]` (f32) for the backward.
    ```mlir
    %o, %lse = kernel.attention %q, %k, %v {heads = 12 : i64, kv_heads = 12 : i64,
        block_m = 128 : i64, block_n = 64 : i64, warps = 4 : i64, stages = 2 : i64}
        : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> (tensor<?x?x768xf32>, tensor<?x12x?xf32>)
    ```
  }];
  let arguments = !con((ins Kernel_Tensor:$q, Kernel_Tensor:$k, Kernel_Tensor:$v,
                            Optional<Kernel_Tensor>:$bias), commonAttrs);
  let results = (outs Kernel_Tensor:$out, Kernel_Tensor:$lse);
  let assemblyFormat = [{
    $q `,` $k `,` $v (`bias` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Kernel_AttentionGradOp : Kernel_AttentionBase<"attention_grad"> {
  let summary = "the backward of kernel.attention (FlashAttention-2 backward)";
  let description = [{
    Recomputes the probabilities tile by tile from `q`, `k` and the saved
    log-sum-exp, and gives `dq`, `dk`, `dv` (and `dbias` when there is a
    bias); `D = rowsum(dout ∘ out)` is formed first. Like the forward, it
    never materializes `Tq×Tk` and skips masked tiles.
  }];
  let arguments = !con((ins Kernel_Tensor:$q, Kernel_Tensor:$k, Kernel_Tensor:$v,
                            Optional<Kernel_Tensor>:$bias, Kernel_Tensor:$out,
                            Kernel_Tensor:$lse, Kernel_Tensor:$dout), commonAttrs);
  let results = (outs Kernel_Tensor:$dq, Kernel_Tensor:$dk, Kernel_Tensor:$dv,
                      Optional<Kernel_Tensor>:$dbias);
  let assemblyFormat = [{
    $q `,` $k `,` $v (`bias` $bias^)? `out` $out `lse` $lse `grad` $dout attr-dict
    `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Residual add with the next norm
//===----------------------------------------------------------------------===//

def Kernel_AddNormOp : Kernel_Op<"add_norm", [Pure, AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "a residual add and the norm after it, in one pass";
  let description = [{
    `sum = x + r` (same shapes) and `y = norm(sum)` over the last dim, where
    `norm` is `motif.layer_norm` (`kind = "layer"`: `(s - mean) /
    sqrt(var + eps) * w + b`) or `motif.rms_norm` (`kind = "rms"`:
    `s / sqrt(mean(s²) + eps) * w`), `w` and `b` optional. Both results
    leave the kernel: the residual stream goes on with `sum`, and the norm's
    backward reads it.
    ```mlir
    %s, %y = kernel.add_norm %x, %r, %w {kind = "rms", eps = 1.0e-05 : f64}
        : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<64xf32>) -> (tensor<?x?x64xf32>, tensor<?x?x64xf32>)
    ```
  }];
  let arguments = (ins Kernel_Tensor:$x, Kernel_Tensor:$r,
                       Optional<Kernel_Tensor>:$w, Optional<Kernel_Tensor>:$b,
                       StrAttr:$kind, F64Attr:$eps);
  let results = (outs Kernel_Tensor:$sum, Kernel_Tensor:$y);
  let assemblyFormat = [{
    $x `,` $r (`weight` $w^)? (`bias` $b^)? attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// The output projection with its loss and gradients
//===----------------------------------------------------------------------===//

def Kernel_LinearCrossEntropyOp : Kernel_Op<"linear_cross_entropy", [Pure,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "logits = x·wᵀ, their cross-entropy, and its gradients, chunk by chunk";
  let description = [{
    The mean cross-entropy of `logits = x · wᵀ` (`x: [..., D]`, `w: [V, D]`)
    against `targets: [...]` (`ignore_index`, `label_smoothing` as in
    `motif.cross_entropy`), with the gradients of that loss (times 1, the
    seed of the backward) for `x` and `w`, computed `chunk` rows at a time:
    the logits of one chunk exist at once, never all of them. Made by the
    linear-cross-entropy fusion from a train step's output projection, its
    loss and their backward.
    ```mlir
    %loss, %dx, %dw = kernel.linear_cross_entropy %x, %w, %t {chunk = 1024 : i64}
        : (tensor<?x?x768xf32>, tensor<50257x768xf32>, tensor<?x?xi32>)
        -> (tensor<f32>, tensor<?x?x768xf32>, tensor<50257x768xf32>)
    ```
  }];
  let arguments = (ins Kernel_Tensor:$x, Kernel_Tensor:$w, Kernel_Tensor:$targets,
                       DefaultValuedAttr<I64Attr, "-1">:$ignore_index,
                       DefaultValuedAttr<F64Attr, "0.0">:$label_smoothing,
                       DefaultValuedAttr<I64Attr, "1024">:$chunk);
  let results = (outs Kernel_Tensor:$loss, Kernel_Tensor:$dx, Kernel_Tensor:$dw);
  let assemblyFormat = [{
    $x `,` $w `,` $targets attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Inference state: the KV cache and the other per-sequence states
//===----------------------------------------------------------------------===//

def Kernel_StateFillOp : Kernel_Op<"state_fill", [Pure,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "the last `slots` rows of each sequence, as a ring buffer";
  let description = [{
    `x: [B, T, C]` and the sequences' lengths `lengths: [B]` (i32, each at
    most T) give the state `[B, slots, C]`: for each sequence `b`, row `p` of
    `x` for `p` in `[max(0, len_b - slots), len_b)` lands in slot
    `p mod slots`; the other slots are zero. Made by the inference derivation
    (`motif-derive-inference`) in `@prefill`: a KV cache (`slots` = the context,
    or a sliding window's width), a causal conv's last inputs, a recurrence's
    last state (`slots = 1`).
    ```mlir
    %kc = kernel.state_fill %k, %lengths {slots = 128 : i64} : (tensor<?x?x64xf32>, tensor<?xi32>) -> tensor<?x128x64xf32>
    ```
  }];
  let arguments = (ins Kernel_Tensor:$x, Kernel_Tensor:$lengths, I64Attr:$slots);
  let results = (outs Kernel_Tensor:$state);
  let assemblyFormat = "$x `,` $lengths attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Kernel_AttentionDecodeOp : Kernel_Op<"attention_decode", [Pure,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "one new query per sequence against its KV cache (the decode step)";
  let description = [{
    `q: [B, 1, H*Dh]`, the new key `k: [B, 1, Hkv*Dh]` and value
    `v: [B, 1, Hkv*Dv]` (`Dv` may differ from `Dh`), the caches
    `k_cache: [B, S, Hkv*Dh]`, `v_cache: [B, S, Hkv*Dv]` (ring buffers: position `p`
    in slot `p mod S`) and each sequence's position `pos: [B]` (i32). The new
    key and value are written to slot `pos mod S` of the caches, which come
    back as `k_next, v_next`; the query attends to positions
    `[max(0, pos - window + 1), pos]` (`window = 0`: `[0, pos]`), which must fit
    in the S slots. Query head `h` reads KV head `h / (H / Hkv)`; `scale = 0`
    means `1/sqrt(Dh)`. Causal self-attention's decode form, with the
    semantics of `motif.attention` at the last position.
    ```mlir
    %o, %kc1, %vc1 = kernel.attention_decode %q, %k, %v, %kc0, %vc0, %pos {heads = 4 : i64, kv_heads = 2 : i64}
        : (tensor<?x1x64xf32>, tensor<?x1x32xf32>, tensor<?x1x32xf32>, tensor<?x128x32xf32>, tensor<?x128x32xf32>, tensor<?xi32>)
        -> (tensor<?x1x64xf32>, tensor<?x128x32xf32>, tensor<?x128x32xf32>)
    ```
  }];
  let arguments = (ins Kernel_Tensor:$q, Kernel_Tensor:$k, Kernel_Tensor:$v,
                       Kernel_Tensor:$k_cache, Kernel_Tensor:$v_cache, Kernel_Tensor:$pos,
                       I64Attr:$heads, I64Attr:$kv_heads,
                       DefaultValuedAttr<I64Attr, "0">:$window,
                       DefaultValuedAttr<F64Attr, "0.0">:$scale);
  let results = (outs Kernel_Tensor:$out, Kernel_Tensor:$k_next, Kernel_Tensor:$v_next);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $k_cache `,` $v_cache `,` $pos attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Kernel_Conv1dStepOp : Kernel_Op<"conv1d_step", [Pure,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "one position of a causal depthwise conv1d, from its last inputs";
  let description = [{
    `x: [B, 1, C]` (each sequence's new input, at position `pos: [B]`), the
    state of the last `K - 1` inputs `state: [B, K-1, C]` (a ring buffer:
    position `p` in slot `p mod (K-1)`), the weight `w: [C, 1, K]` and an
    optional bias `b: [C]` give `motif.conv1d`'s output at `pos` (`causal`,
    `groups = C`; positions before 0 read zeros) and the state with `x` in
    slot `pos mod (K-1)`. The decode form of Mamba's convolution.
    ```mlir
    %y, %s1 = kernel.conv1d_step %x, %s0, %w, %pos bias %b : (tensor<?x1x64xf32>, tensor<?x3x64xf32>, tensor<64x1x4xf32>, tensor<?xi32>, tensor<64xf32>) -> (tensor<?x1x64xf32>, tensor<?x3x64xf32>)
    ```
  }];
  let arguments = (ins Kernel_Tensor:$x, Kernel_Tensor:$state, Kernel_Tensor:$w,
                       Kernel_Tensor:$pos, Optional<Kernel_Tensor>:$b);
  let results = (outs Kernel_Tensor:$y, Kernel_Tensor:$state_next);
  let assemblyFormat = [{
    $x `,` $state `,` $w `,` $pos (`bias` $b^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Kernel_SelectiveScanStateOp : Kernel_Op<"selective_scan_state", [Pure,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "the state of Mamba's selective scan after each sequence's last position";
  let description = [{
    The operands of `motif.selective_scan` that its state reads (`u, delta:
    [B, T, Di]`, `A: [Di, N]`, `B: [B, T, N]`, optional `delta_bias: [Di]`)
    and each sequence's length `lengths: [B]` give the state
    `h: [B, Di, N]` after position `len_b - 1` (zero for an empty sequence),
    with the arithmetic of the scan's steps. Made by the inference
    derivation in `@prefill`; `motif.selective_scan_step` carries it on.
    ```mlir
    %h = kernel.selective_scan_state %u, %dt, %A, %B, %len delta_bias %bias : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<64x8xf32>, tensor<?x?x8xf32>, tensor<?xi32>, tensor<64xf32>) -> tensor<?x64x8xf32>
    ```
  }];
  let arguments = (ins Kernel_Tensor:$u, Kernel_Tensor:$delta, Kernel_Tensor:$A,
                       Kernel_Tensor:$B, Kernel_Tensor:$lengths,
                       Optional<Kernel_Tensor>:$delta_bias,
                       DefaultValuedAttr<BoolAttr, "true">:$delta_softplus);
  let results = (outs Kernel_Tensor:$h);
  let assemblyFormat = [{
    $u `,` $delta `,` $A `,` $B `,` $lengths (`delta_bias` $delta_bias^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Kernel_SsdStateOp : Kernel_Op<"ssd_state", [Pure,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "the state of motif.ssd after each sequence's last position";
  let description = [{
    The operands of `motif.ssd` that its state reads (`x: [B, T, H, P]`,
    `a: [B, T, H]` or `[B, T, H, N]`, `B: [B, T, G, N]`) and each sequence's
    length `lengths: [B]` give the state `h: [B, H, P, N]` after position
    `len_b - 1` (zero for an empty sequence), with the arithmetic of
    `motif.ssd_step`. Made by the inference derivation in `@prefill`;
    `motif.ssd_step` carries it on.
    ```mlir
    %h = kernel.ssd_state %x, %a, %B, %len : (tensor<?x?x4x8xf32>, tensor<?x?x4xf32>, tensor<?x?x1x16xf32>, tensor<?xi32>) -> tensor<?x4x8x16xf32>
    ```
  }];
  let arguments = (ins Kernel_Tensor:$x, Kernel_Tensor:$a, Kernel_Tensor:$B,
                       Kernel_Tensor:$lengths);
  let results = (outs Kernel_Tensor:$h);
  let assemblyFormat = [{
    $x `,` $a `,` $B `,` $lengths attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Encoder-decoder inference (T5): padded sources, the decoder's position bias
//===----------------------------------------------------------------------===//

def Kernel_AttentionPaddedOp : Kernel_Op<"attention_padded", [Pure,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "non-causal attention to each sequence's first `lengths` keys";
  let description = [{
    `motif.attention` with `causal = false` over a right-padded batch: `q:
    [B, Tq, H*Dh]`, `k: [B, Tk, Hkv*Dh]`, `v: [B, Tk, Hkv*Dv]`, and each
    sequence's number of real keys `lengths: [B]` (i32, in `[1, Tk]`); keys at
    `j >= lengths[b]` (padding) get no weight. An optional additive `bias:
    [H, Tq, Tk]` (T5's position bias) as in `motif.attention`. Made by the
    inference derivation of an encoder-decoder (`motif-derive-inference`):
    the encoder's self-attention and the cross-attention over a batch of
    sources of different lengths in `@prefill`, and the cross-attention of
    the one new query to the cached encoder keys and values in `@decode_step`.
    ```mlir
    %o = kernel.attention_padded %q, %k, %v, %len {heads = 2 : i64, kv_heads = 2 : i64, scale = 1.0 : f64}
        : (tensor<?x1x64xf32>, tensor<?x128x64xf32>, tensor<?x128x64xf32>, tensor<?xi32>) -> tensor<?x1x64xf32>
    ```
  }];
  let arguments = (ins Kernel_Tensor:$q, Kernel_Tensor:$k, Kernel_Tensor:$v,
                       Kernel_Tensor:$lengths, Optional<Kernel_Tensor>:$bias,
                       I64Attr:$heads, I64Attr:$kv_heads,
                       DefaultValuedAttr<F64Attr, "0.0">:$scale);
  let results = (outs Kernel_Tensor:$out);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $lengths (`bias` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Kernel_AttentionDecodeRelOp : Kernel_Op<"attention_decode_rel", [Pure,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "the decode step of attention with T5's relative position bias";
  let description = [{
    `kernel.attention_decode` (no window: the caches hold positions `[0, S)`)
    with the additive bias `motif.relative_position_bias` gives the query at
    `pos` against key `j`: `table[bucket(j - pos), h]` (`table: [buckets, H]`,
    HF T5's buckets with `bidirectional` and `max_distance`). The decode form
    of T5's decoder self-attention.
    ```mlir
    %o, %kc1, %vc1 = kernel.attention_decode_rel %q, %k, %v, %kc0, %vc0, %pos, %table {bidirectional = false, heads = 2 : i64, kv_heads = 2 : i64, max_distance = 128 : i64, scale = 1.0 : f64}
        : (tensor<?x1x64xf32>, tensor<?x1x64xf32>, tensor<?x1x64xf32>, tensor<?x128x64xf32>, tensor<?x128x64xf32>, tensor<?xi32>, tensor<32x2xf32>)
        -> (tensor<?x1x64xf32>, tensor<?x128x64xf32>, tensor<?x128x64xf32>)
    ```
  }];
  let arguments = (ins Kernel_Tensor:$q, Kernel_Tensor:$k, Kernel_Tensor:$v,
                       Kernel_Tensor:$k_cache, Kernel_Tensor:$v_cache, Kernel_Tensor:$pos,
                       Kernel_Tensor:$table,
                       I64Attr:$heads, I64Attr:$kv_heads,
                       DefaultValuedAttr<F64Attr, "0.0">:$scale,
                       DefaultValuedAttr<BoolAttr, "true">:$bidirectional,
                       DefaultValuedAttr<I64Attr, "128">:$max_distance);
  let results = (outs Kernel_Tensor:$out, Kernel_Tensor:$k_next, Kernel_Tensor:$v_next);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $k_cache `,` $v_cache `,` $pos `,` $table attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// A tied table's gradient: the embedding's backward added into another
//===----------------------------------------------------------------------===//

def Kernel_EmbeddingGradAddOp : Kernel_Op<"embedding_grad_add", [Pure,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "another gradient of a table plus the embedding's backward, in place";
  let description = [{
    `grad: [V, D]` (a gradient of the table, e.g. a tied output head's) with
    the rows of `dy: [..., D]` added at `ids: [...]`: row `ids[i]` of the
    result is that row of `grad` plus `dy[i]`, the tokens added in order
    `i = 0, 1, ...`; the other rows are `grad`'s. This is `grad +` the
    backward of `motif.embedding` without the dense `[V, D]` table of zeros
    it would make. The memory plan may give the result `grad`'s buffer (the
    update is in place). Made by the kernel lowering from a train step's
    `motif.add` of a tied table's two gradients.
    ```mlir
    %g1 = kernel.embedding_grad_add %g, %ids, %dy
        : (tensor<50257x768xf32>, tensor<?x?xi32>, tensor<?x?x768xf32>) -> tensor<50257x768xf32>
    ```
  }];
  let arguments = (ins Kernel_Tensor:$grad, Kernel_Tensor:$ids, Kernel_Tensor:$dy);
  let results = (outs Kernel_Tensor:$result);
  let assemblyFormat = "$grad `,` $ids `,` $dy attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

#endif // KERNEL_OPS_TD
