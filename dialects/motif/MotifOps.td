//===- MotifOps.td - Ops of the motif dialect --------------*- tablegen -*-===//
//
// Every op with inferable results declares InferTypeOpInterface; its
// inferReturnTypes (TypeInference.cpp) is also its verifier, through the
// interface's own check that the result types are the inferred ones.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_OPS_TD
#define MOTIF_OPS_TD

include "dialects/motif/MotifBase.td"
include "dialects/motif/MotifAttrs.td"
include "dialects/motif/MotifInterfaces.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

class Motif_InferOp<string mnemonic, list<Trait> traits = []>
    : Motif_Op<mnemonic, !listconcat(traits,
        [DeclareOpInterfaceMethods<InferTypeOpInterface>, MotifVJPOpInterface])>;

def Motif_Tensor : RankedTensorOf<[AnyType]>;
def Motif_Scalar : 0DTensorOf<[F32]>;

//===----------------------------------------------------------------------===//
// Parameters and constants
//===----------------------------------------------------------------------===//

def Motif_ParamOp : Motif_Op<"param", [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "a named model parameter";
  let description = [{
    Declares a trainable parameter (or, with `frozen`, a buffer such as
    batch-norm statistics) by its path, shape, dtype and initializer.
    `no_decay` exempts it from weight decay (norm weights, biases).

    ```mlir
    motif.param @"h.0.attn.c_attn.weight" : tensor<2304x768xf32> init #motif.init<normal, std = 2.000000e-02>
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttrOf<AnyStaticShapeTensor>:$type,
                       Motif_InitAttr:$init, UnitAttr:$no_decay, UnitAttr:$frozen);
  let assemblyFormat = "$sym_name `:` $type `init` $init attr-dict";
  let hasVerifier = 1;
}

def Motif_GetParamOp : Motif_Op<"get_param",
    [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "reads a parameter";
  let description = [{
    ```mlir
    %w = motif.get_param @"h.0.attn.c_attn.weight" : tensor<2304x768xf32>
    ```
    Inside a `motif.moe` region the parameter has a leading experts dim and
    this op yields one expert's slice.
  }];
  let arguments = (ins FlatSymbolRefAttr:$name);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
}

def Motif_ConstantOp : Motif_Op<"constant", [Pure]> {
  let summary = "a splat constant";
  let description = [{
    ```mlir
    %c = motif.constant 5.000000e-01 : tensor<f32>
    ```
  }];
  let arguments = (ins F64Attr:$value);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$value attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Motif_PositionsOp : Motif_InferOp<"positions", [Pure]> {
  let summary = "0..n-1 along one axis of a tensor";
  let description = [{
    ```mlir
    %p = motif.positions %tokens {axis = 1 : i64} : tensor<?x?xi32> -> tensor<?xi32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, DefaultValuedAttr<I64Attr, "1">:$axis);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
}

//===----------------------------------------------------------------------===//
// Dense layers
//===----------------------------------------------------------------------===//

def Motif_EmbeddingOp : Motif_InferOp<"embedding", [Pure]> {
  let summary = "rows of a table by integer ids";
  let description = [{
    ```mlir
    %e = motif.embedding %ids, %table : (tensor<?x?xi32>, tensor<50257x768xf32>) -> tensor<?x?x768xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$ids, Motif_Tensor:$table);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$ids `,` $table attr-dict `:` functional-type(operands, results)";
}

def Motif_LinearOp : Motif_InferOp<"linear", [Pure]> {
  let summary = "x W^T + b over the last dim";
  let description = [{
    `x: [..., K]`, `w: [N, K]`, optional `b: [N]` give `[..., N]`.
    ```mlir
    %y = motif.linear %x, %w, %b : (tensor<?x?x768xf32>, tensor<3072x768xf32>, tensor<3072xf32>) -> tensor<?x?x3072xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Motif_Tensor:$w, Optional<Motif_Tensor>:$b);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x `,` $w (`,` $b^)? attr-dict `:` functional-type(operands, results)";
}

def Motif_MatmulOp : Motif_InferOp<"matmul", [Pure]> {
  let summary = "batched matrix product";
  let description = [{
    `[..., M, K] x [..., K, N] -> [..., M, N]` (batch dims broadcast);
    with `transpose_b`, `b` is `[..., N, K]`.
    ```mlir
    %c = motif.matmul %a, %b : (tensor<?x8x16xf32>, tensor<16x4xf32>) -> tensor<?x8x4xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$a, Motif_Tensor:$b, UnitAttr:$transpose_b);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$a `,` $b attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

// An op of the elementwise table, runtime/core/Elementwise.def: its kind,
// arity, math (runtime/core/ElementwiseMath.h) and what its backward reads
// come from the row of its mnemonic (mlir::motif::elementwiseInfo), which
// type inference, the VJP's saved values, the kernel.fused verifier, fusion
// and CUDA emission use instead of lists of ops. The ops with this trait and
// the table's rows are the same set (tests/unit/dialect/ElementwiseTableTest.cpp).
def Motif_Elementwise : NativeOpTrait<"ElementwiseTrait"> {
  let cppNamespace = "::mlir::motif";
}

class Motif_BinaryOp<string mnemonic, string what>
    : Motif_InferOp<mnemonic, [Pure, Motif_Elementwise]> {
  let summary = what # " with numpy-style broadcasting";
  let description = [{
    ```mlir
    %z = motif.}] # mnemonic # [{ %x, %y : (tensor<?x?x768xf32>, tensor<f32>) -> tensor<?x?x768xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$lhs, Motif_Tensor:$rhs);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}
def Motif_AddOp : Motif_BinaryOp<"add", "sum">;
def Motif_SubOp : Motif_BinaryOp<"sub", "difference">;
def Motif_MulOp : Motif_BinaryOp<"mul", "product">;
def Motif_DivOp : Motif_BinaryOp<"div", "quotient">;
def Motif_MaximumOp : Motif_BinaryOp<"maximum", "elementwise maximum">;

class Motif_UnaryOp<string mnemonic, string what>
    : Motif_InferOp<mnemonic, [Pure, Motif_Elementwise]> {
  let summary = what;
  let description = [{
    ```mlir
    %y = motif.}] # mnemonic # [{ %x : tensor<?x?x768xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x)";
}
def Motif_ReluOp : Motif_UnaryOp<"relu", "max(x, 0)">;
def Motif_GeluOp : Motif_UnaryOp<"gelu", "x * Phi(x) (exact, erf)">;
def Motif_GeluTanhOp : Motif_UnaryOp<"gelu_tanh", "gelu with the tanh approximation">;
def Motif_SiluOp : Motif_UnaryOp<"silu", "x * sigmoid(x)">;
def Motif_SigmoidOp : Motif_UnaryOp<"sigmoid", "1 / (1 + exp(-x))">;
def Motif_TanhOp : Motif_UnaryOp<"tanh", "hyperbolic tangent">;
def Motif_SoftplusOp : Motif_UnaryOp<"softplus", "log(1 + exp(x))">;
def Motif_ExpOp : Motif_UnaryOp<"exp", "exponential">;
def Motif_LogOp : Motif_UnaryOp<"log", "natural logarithm">;
def Motif_SqrtOp : Motif_UnaryOp<"sqrt", "square root">;
def Motif_RsqrtOp : Motif_UnaryOp<"rsqrt", "1 / sqrt(x)">;
def Motif_NegOp : Motif_UnaryOp<"neg", "-x">;
def Motif_SinOp : Motif_UnaryOp<"sin", "sine (radians)">;
def Motif_CosOp : Motif_UnaryOp<"cos", "cosine (radians)">;

def Motif_CastOp : Motif_Op<"cast", [Pure, MotifVJPOpInterface]> {
  let summary = "converts the element type";
  let description = [{
    ```mlir
    %y = motif.cast %x : tensor<?x768xf32> -> tensor<?x768xbf16>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Normalization, softmax, rope
//===----------------------------------------------------------------------===//

def Motif_LayerNormOp : Motif_InferOp<"layer_norm", [Pure, AttrSizedOperandSegments]> {
  let summary = "layer normalization over the last dim";
  let description = [{
    ```mlir
    %y = motif.layer_norm %x, %w, %b {eps = 1.000000e-05 : f64} : (tensor<?x?x768xf32>, tensor<768xf32>, tensor<768xf32>) -> tensor<?x?x768xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Optional<Motif_Tensor>:$w, Optional<Motif_Tensor>:$b,
                       DefaultValuedAttr<F64Attr, "1e-5">:$eps);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x (`,` $w^)? (`bias` $b^)? attr-dict `:` functional-type(operands, results)";
}

def Motif_RmsNormOp : Motif_InferOp<"rms_norm", [Pure]> {
  let summary = "root-mean-square normalization over the last dim";
  let description = [{
    ```mlir
    %y = motif.rms_norm %x, %w {eps = 1.000000e-06 : f64} : (tensor<?x?x4096xf32>, tensor<4096xf32>) -> tensor<?x?x4096xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Optional<Motif_Tensor>:$w,
                       DefaultValuedAttr<F64Attr, "1e-6">:$eps);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x (`,` $w^)? attr-dict `:` functional-type(operands, results)";
}

def Motif_SoftmaxOp : Motif_InferOp<"softmax", [Pure]> {
  let summary = "softmax along one axis";
  let description = [{
    ```mlir
    %p = motif.softmax %x {axis = -1 : i64} : tensor<?x8x16xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, DefaultValuedAttr<I64Attr, "-1">:$axis);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x)";
}

def Motif_RopeOp : Motif_InferOp<"rope", [Pure]> {
  let summary = "rotary position embedding, per head";
  let description = [{
    `x: [B, T, H*Dh]`; rotates the first `rotary_dim` (0: all) dims of each
    head. `scaling` extends the context: `ntk` scales theta, `yarn`
    interpolates by `factor` from `original_max_positions`, `llama3` (Llama
    3.1) divides by `factor` the frequencies whose wavelength exceeds
    `original_max_positions / low_freq_factor`, keeps those whose wavelength
    is below `original_max_positions / high_freq_factor`, and blends between.
    ```mlir
    %q2 = motif.rope %q {heads = 32 : i64, theta = 5.000000e+05 : f64} : (tensor<?x?x4096xf32>) -> tensor<?x?x4096xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Optional<Motif_Tensor>:$positions,
                       I64Attr:$heads,
                       DefaultValuedAttr<F64Attr, "10000.0">:$theta,
                       DefaultValuedAttr<I64Attr, "0">:$rotary_dim,
                       DefaultValuedAttr<Motif_RopeScalingAttr, "::mlir::motif::RopeScaling::None">:$scaling,
                       DefaultValuedAttr<F64Attr, "1.0">:$factor,
                       DefaultValuedAttr<I64Attr, "0">:$original_max_positions,
                       DefaultValuedAttr<F64Attr, "1.0">:$low_freq_factor,
                       DefaultValuedAttr<F64Attr, "4.0">:$high_freq_factor);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x (`,` $positions^)? attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

def Motif_AttentionOp : Motif_InferOp<"attention", [Pure]> {
  let summary = "scaled dot-product attention (MHA, GQA, MQA, cross)";
  let description = [{
    `q: [B, Tq, H*Dh]`, `k: [B, Tk, Hkv*Dh]`, `v: [B, Tk, Hkv*Dv]` give
    `[B, Tq, H*Dv]` (`Dv` may differ from `Dh`, as in multi-head latent
    attention). Query head `h` reads key/value head `h / (H / Hkv)`. `window > 0` limits each
    query to the last `window` keys; `scale = 0` means `1/sqrt(Dh)`; an
    optional additive `bias: [H, Tq, Tk]` (T5).
    ```mlir
    %o = motif.attention %q, %k, %v {heads = 32 : i64, kv_heads = 8 : i64, causal = true} : (tensor<?x?x4096xf32>, tensor<?x?x1024xf32>, tensor<?x?x1024xf32>) -> tensor<?x?x4096xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$q, Motif_Tensor:$k, Motif_Tensor:$v,
                       Optional<Motif_Tensor>:$bias,
                       I64Attr:$heads, I64Attr:$kv_heads,
                       DefaultValuedAttr<BoolAttr, "true">:$causal,
                       DefaultValuedAttr<I64Attr, "0">:$window,
                       DefaultValuedAttr<F64Attr, "0.0">:$scale);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$q `,` $k `,` $v (`bias` $bias^)? attr-dict `:` functional-type(operands, results)";
}

def Motif_RelativePositionBiasOp : Motif_InferOp<"relative_position_bias", [Pure]> {
  let summary = "T5's bucketed relative position bias";
  let description = [{
    `q: [B, Tq, ...]`, `k: [B, Tk, ...]` (read for their lengths only) and
    `table: [buckets, H]` give the additive attention bias `[H, Tq, Tk]`.
    ```mlir
    %bias = motif.relative_position_bias %x, %x, %table {bidirectional = true, max_distance = 128 : i64} : (tensor<?x?x512xf32>, tensor<?x?x512xf32>, tensor<32x8xf32>) -> tensor<8x?x?xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$q, Motif_Tensor:$k, Motif_Tensor:$table,
                       DefaultValuedAttr<BoolAttr, "true">:$bidirectional,
                       DefaultValuedAttr<I64Attr, "128">:$max_distance);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$q `,` $k `,` $table attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Grouped experts: what the expert-grouping pass makes of a motif.moe
//===----------------------------------------------------------------------===//

def Motif_I32Tensor : RankedTensorOf<[I32]>;

def Motif_MoeRouteOp : Motif_InferOp<"moe_route", [Pure]> {
  let summary = "the routing decision of a mixture of experts";
  let description = [{
    From router logits `[..., E]` (N tokens): softmax over the experts, then
    the (token, expert) assignments of the routing mode, each with its gate:
    `top_k` (each token its k most probable experts, ties to the lower index;
    A = N x k, assignment t·k + j is the token's j-th choice), `switch` (top-1;
    A = N), `expert_choice` (each expert its `capacity` most probable tokens,
    ties to the lower token, listed by expert then token; A = E x capacity,
    capacity = min(N, ceil(capacity_factor · N · top_k / E))), `sigmoid`
    (top_k over sigmoid scores instead of softmax probabilities, DeepSeek-V3).
    Gates are the probabilities (scores), renormalized over a token's choices
    when `normalize_weights` (softmax after selection; off: softmax before
    selection; expert_choice never renormalizes). `aux_loss` is
    `aux_loss_coef · E · Σ_e f_e P_e + z_loss_coef · mean_t lse_t²` (f_e the
    share of assignments to e before any capacity, P_e the mean probability;
    under sigmoid the mean of the scores normalized over all experts; lse the
    logits' log-sum-exp in every mode). `noisy_top_k` is refused: the
    expert-grouping pass adds its noise to the logits and routes them top_k.
    ```mlir
    %g, %e, %t, %aux = motif.moe_route %logits {top_k = 2 : i64} : (tensor<16x4xf32>) -> (tensor<32xf32>, tensor<32xi32>, tensor<32xi32>, tensor<f32>)
    ```
  }];
  let arguments = (ins Motif_Tensor:$logits,
                       DefaultValuedAttr<I64Attr, "2">:$top_k,
                       DefaultValuedAttr<Motif_RoutingModeAttr, "::mlir::motif::RoutingMode::TopK">:$routing,
                       DefaultValuedAttr<F64Attr, "1.25">:$capacity_factor,
                       DefaultValuedAttr<F64Attr, "0.01">:$aux_loss_coef,
                       DefaultValuedAttr<F64Attr, "0.0">:$z_loss_coef,
                       DefaultValuedAttr<BoolAttr, "true">:$normalize_weights);
  let results = (outs Motif_Tensor:$gates, Motif_I32Tensor:$expert_ids,
                      Motif_I32Tensor:$token_ids, Motif_Scalar:$aux_loss);
  let assemblyFormat = "$logits attr-dict `:` functional-type(operands, results)";
}

def Motif_MoePermuteOp : Motif_InferOp<"moe_permute", [Pure]> {
  let summary = "groups the routed tokens by expert";
  let description = [{
    Gathers the rows of `x: [..., D]` named by the assignments (`expert_ids`,
    `token_ids`: [A]) into `rows: [R, D]`, grouped by expert in a stable
    order (by expert, then by assignment), with `offsets: [E + 1]` (expert
    e's rows are `[offsets[e], offsets[e+1])`) and `row_of: [A]` (each
    assignment's row, -1 where capacity dropped it). With a positive
    `capacity_factor`, each expert admits at most ceil(capacity_factor · A /
    E) assignments, in assignment order, and R = min(A, E x capacity); rows
    past `offsets[E]` are zero. Without, R = A and nothing is dropped.
    ```mlir
    %rows, %offsets, %row_of = motif.moe_permute %x, %e, %t {experts = 4 : i64} : (tensor<2x8x64xf32>, tensor<32xi32>, tensor<32xi32>) -> (tensor<32x64xf32>, tensor<5xi32>, tensor<32xi32>)
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Motif_I32Tensor:$expert_ids,
                       Motif_I32Tensor:$token_ids, I64Attr:$experts,
                       DefaultValuedAttr<F64Attr, "0.0">:$capacity_factor);
  let results = (outs Motif_Tensor:$rows, Motif_I32Tensor:$offsets,
                      Motif_I32Tensor:$row_of);
  let assemblyFormat = "$x `,` $expert_ids `,` $token_ids attr-dict `:` functional-type(operands, results)";
}

def Motif_GroupedLinearOp : Motif_InferOp<"grouped_linear", [Pure]> {
  let summary = "one linear map per expert over its rows (a grouped GEMM)";
  let description = [{
    `x: [R, K]`, stacked weights `w: [E, N, K]`, `offsets: [E + 1]` and an
    optional stacked bias `b: [E, N]` give `[R, N]`: rows
    `[offsets[e], offsets[e+1])` are `x W_e^T + b_e`; rows outside every
    range are zero.
    ```mlir
    %y = motif.grouped_linear %rows, %w, %offsets : (tensor<32x64xf32>, tensor<4x96x64xf32>, tensor<5xi32>) -> tensor<32x96xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Motif_Tensor:$w, Motif_I32Tensor:$offsets,
                       Optional<Motif_Tensor>:$b);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x `,` $w `,` $offsets (`,` $b^)? attr-dict `:` functional-type(operands, results)";
}

def Motif_MoeCombineOp : Motif_InferOp<"moe_combine", [Pure,
    DeclareOpInterfaceMethods<MotifVJPOpInterface, ["buildVJP"]>]> {
  let summary = "un-permutes expert outputs, weighted by their gates";
  let description = [{
    `y[token_ids[a]] += gates[a] · rows[row_of[a]]` for every assignment `a`
    kept (`row_of[a] >= 0`), in assignment order (so the sum does not depend
    on threads); the result has the type of `like` (whose data is not read).
    ```mlir
    %y = motif.moe_combine %out, %g, %row_of, %t, %x : (tensor<32x64xf32>, tensor<32xf32>, tensor<32xi32>, tensor<32xi32>, tensor<2x8x64xf32>) -> tensor<2x8x64xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$rows, Motif_Tensor:$gates, Motif_I32Tensor:$row_of,
                       Motif_I32Tensor:$token_ids, Motif_Tensor:$like);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$rows `,` $gates `,` $row_of `,` $token_ids `,` $like attr-dict `:` functional-type(operands, results)";
}

def Motif_MoeGatesOp : Motif_InferOp<"moe_gates", [Pure,
    DeclareOpInterfaceMethods<MotifVJPOpInterface, ["buildVJP"]>]> {
  let summary = "the assignments' gates as a dense [tokens, experts] matrix";
  let description = [{
    `y[token_ids[a], expert_ids[a]] = gates[a]` for every assignment `a`
    kept (every one, or where `row_of[a] >= 0` when `row_of` is given), zero
    elsewhere; the result has the type of `like` (the logits `[..., E]`,
    whose data is not read). The dense form of a moe
    (`--motif-group-experts=dense=1`) weights each expert's output by a
    column of it. Its gradient reaches `gates` only.
    ```mlir
    %dense = motif.moe_gates %logits, %g, %e, %t : (tensor<2x8x4xf32>, tensor<32xf32>, tensor<32xi32>, tensor<32xi32>) -> tensor<2x8x4xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$like, Motif_Tensor:$gates, Motif_I32Tensor:$expert_ids,
                       Motif_I32Tensor:$token_ids, Optional<Motif_I32Tensor>:$row_of);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$like `,` $gates `,` $expert_ids `,` $token_ids (`,` $row_of^)? attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Mixture of experts
//===----------------------------------------------------------------------===//

def Motif_MoeOp : Motif_InferOp<"moe", [RecursiveMemoryEffects,
    DeclareOpInterfaceMethods<MotifVJPOpInterface, ["buildVJP"]>]> {
  let summary = "a routed mixture of experts";
  let description = [{
    Routes each token of `x: [B, T, D]` by `router: [E, D]` to experts whose
    body is the `experts` region (run on the tokens routed to one expert,
    `tensor<?xD>`); `shared` is the body of `shared_experts` experts every
    token goes through. Results: the combined output and the auxiliary loss
    (`aux_loss_coef` x load balance + `z_loss_coef` x router z-loss).
    Parameters read inside the regions have a leading experts dim.
    Routing `sigmoid` is top-k over sigmoid scores (DeepSeek-V3);
    `noisy_top_k` (Shazeer et al. 2017) is top-k over the logits plus, while
    training, standard normal noise scaled by softplus(x · `noise`^T), where
    `noise: [E, D]` is the trainable noise weight it alone takes.
    ```mlir
    %y, %aux = motif.moe %x, %router {experts = 8 : i64, top_k = 2 : i64} : (tensor<?x?x64xf32>, tensor<8x64xf32>) -> (tensor<?x?x64xf32>, tensor<f32>) experts {
    ^bb0(%t: tensor<?x64xf32>):
      motif.yield %t : tensor<?x64xf32>
    } shared {
    }
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Motif_Tensor:$router,
                       Optional<Motif_Tensor>:$noise,
                       I64Attr:$experts,
                       DefaultValuedAttr<I64Attr, "2">:$top_k,
                       DefaultValuedAttr<Motif_RoutingModeAttr, "::mlir::motif::RoutingMode::TopK">:$routing,
                       DefaultValuedAttr<F64Attr, "1.25">:$capacity_factor,
                       DefaultValuedAttr<I64Attr, "0">:$shared_experts,
                       DefaultValuedAttr<F64Attr, "0.01">:$aux_loss_coef,
                       DefaultValuedAttr<F64Attr, "0.0">:$z_loss_coef,
                       DefaultValuedAttr<BoolAttr, "true">:$normalize_weights);
  let results = (outs Motif_Tensor:$result, Motif_Scalar:$aux_loss);
  let regions = (region AnyRegion:$expertBody, AnyRegion:$sharedBody);
  let assemblyFormat = [{
    $x `,` $router (`,` $noise^)? attr-dict `:` functional-type(operands, results)
    `experts` $expertBody `shared` $sharedBody
  }];
  let hasRegionVerifier = 1;
}

def Motif_YieldOp : Motif_Op<"yield", [Pure, Terminator,
    ParentOneOf<["MoeOp", "RecurrentOp",
                "RecurrentStepOp", "RecurrentVjpOp"]>]> {
  let summary = "ends a moe expert region";
  let description = [{
    Yields the expert's output for the tokens it was given: one tensor of the
    region argument's type.
    ```mlir
    ^bb0(%t: tensor<?x64xf32>):
      motif.yield %t : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Variadic<Motif_Tensor>:$values);
  let assemblyFormat = "$values attr-dict `:` type($values)";
}

//===----------------------------------------------------------------------===//
// Scans
//===----------------------------------------------------------------------===//

def Motif_ScanOp : Motif_InferOp<"scan", [Pure]> {
  let summary = "diagonal linear recurrence h_t = a_t * h_{t-1} + x_t along T";
  let description = [{
    `x, a: [B, T, C]`, `h_{-1} = 0`. `chunk` is how it runs, chosen by the
    scan-lowering pass (`motif-lower-scan`): 0 is the sequential form (the
    reference); a positive `chunk` scans chunks of that many steps in parallel
    and carries the states between them in a short sequential pass. Both
    forms compute the same recurrence and agree to rounding.
    ```mlir
    %h = motif.scan %x, %a : (tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Motif_Tensor:$a,
                       DefaultValuedAttr<I64Attr, "0">:$chunk);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x `,` $a attr-dict `:` functional-type(operands, results)";
}

def Motif_SelectiveScanOp : Motif_InferOp<"selective_scan", [Pure, AttrSizedOperandSegments]> {
  let summary = "Mamba's selective scan";
  let description = [{
    `u, delta: [B, T, Di]`, `A: [Di, N]`, `B, C: [B, T, N]`, optional
    `D: [Di]` and `delta_bias: [Di]`: with `dt = softplus(delta + bias)`,
    `h_t = exp(dt A) h_{t-1} + dt B_t u_t`, `y_t = C_t h_t + D u_t`.
    `chunk` is how it runs, as for `motif.scan` (0: sequential; otherwise
    chunks of that many steps, the decay across a chunk `exp(A Σ dt)` taken
    in log space).
    ```mlir
    %y = motif.selective_scan %u, %dt, %A, %B, %C D %D {delta_softplus = true} : (tensor<?x?x1536xf32>, tensor<?x?x1536xf32>, tensor<1536x16xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<1536xf32>) -> tensor<?x?x1536xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$u, Motif_Tensor:$delta, Motif_Tensor:$A,
                       Motif_Tensor:$B, Motif_Tensor:$C,
                       Optional<Motif_Tensor>:$D, Optional<Motif_Tensor>:$delta_bias,
                       DefaultValuedAttr<BoolAttr, "true">:$delta_softplus,
                       DefaultValuedAttr<I64Attr, "0">:$chunk);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = [{
    $u `,` $delta `,` $A `,` $B `,` $C (`D` $D^)? (`delta_bias` $delta_bias^)?
    attr-dict `:` functional-type(operands, results)
  }];
}

// The step forms: one token in, the state in, the state out. They are for
// inference (a decode step carries the state); they have no backward.

def Motif_ScanStepOp : Motif_Op<"scan_step", [Pure,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "one step of motif.scan: h = a * h_prev + x";
  let description = [{
    `x, a, h_prev: [B, C]` give the next state `[B, C]` (which is also the
    scan's output at that step). Running it T times from a zero state gives
    `motif.scan`.
    ```mlir
    %h1 = motif.scan_step %x, %a, %h0 : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Motif_Tensor:$a, Motif_Tensor:$h);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x `,` $a `,` $h attr-dict `:` functional-type(operands, results)";
}

def Motif_SelectiveScanStepOp : Motif_Op<"selective_scan_step", [Pure,
    AttrSizedOperandSegments, DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "one step of Mamba's selective scan";
  let description = [{
    The operands of `motif.selective_scan` at one position, `u, delta: [B, Di]`,
    `B, C: [B, N]`, and the state `h: [B, Di, N]`, give the output `y: [B, Di]`
    and the next state `[B, Di, N]`. Running it T times from a zero state
    gives `motif.selective_scan`.
    ```mlir
    %y, %h1 = motif.selective_scan_step %u, %dt, %A, %B, %C state %h0 D %D : (tensor<?x32xf32>, tensor<?x32xf32>, tensor<32x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x32x8xf32>, tensor<32xf32>) -> (tensor<?x32xf32>, tensor<?x32x8xf32>)
    ```
  }];
  let arguments = (ins Motif_Tensor:$u, Motif_Tensor:$delta, Motif_Tensor:$A,
                       Motif_Tensor:$B, Motif_Tensor:$C, Motif_Tensor:$h,
                       Optional<Motif_Tensor>:$D, Optional<Motif_Tensor>:$delta_bias,
                       DefaultValuedAttr<BoolAttr, "true">:$delta_softplus);
  let results = (outs Motif_Tensor:$y, Motif_Tensor:$h_next);
  let assemblyFormat = [{
    $u `,` $delta `,` $A `,` $B `,` $C `state` $h (`D` $D^)? (`delta_bias` $delta_bias^)?
    attr-dict `:` functional-type(operands, results)
  }];
}

// Mamba-2's state space dual and gated linear attention: a matrix state per
// head read out by a query inside the op (docs/passes.md, "SSD and gated
// linear recurrences").

def Motif_SsdOp : Motif_InferOp<"ssd", [Pure]> {
  let summary = "Mamba-2's state space dual / gated linear attention";
  let description = [{
    `x: [B, T, H, P]` (values), `a: [B, T, H]` or `[B, T, H, N]` (log
    decays), `B, C: [B, T, G, N]` (keys and queries, `G` groups shared by
    `H / G` heads each). Per batch and head the state `S: [P, N]` runs
    `S_t = S_{t-1} diag(exp(a_t)) + x_t B_t^T` from zero and the result is
    `y_t = S_t C_t: [B, T, H, P]`; the state never leaves the op. A decay per
    head (`[B, T, H]`) is Mamba-2's SSD (`a = dt A`, `x` scaled by `dt`),
    RetNet or linear attention with decay; a decay per key channel is gated
    linear attention. `chunk` is how it runs, chosen by `motif-lower-scan`:
    0 is the sequential form (the reference); a positive `chunk` the chunked
    SSD form (the intra-chunk part as masked matmuls, the inter-chunk state
    passed along).
    ```mlir
    %y = motif.ssd %x, %a, %B, %C : (tensor<?x?x24x64xf32>, tensor<?x?x24xf32>, tensor<?x?x1x128xf32>, tensor<?x?x1x128xf32>) -> tensor<?x?x24x64xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Motif_Tensor:$a, Motif_Tensor:$B, Motif_Tensor:$C,
                       DefaultValuedAttr<I64Attr, "0">:$chunk);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = [{
    $x `,` $a `,` $B `,` $C attr-dict `:` functional-type(operands, results)
  }];
}

def Motif_SsdStepOp : Motif_Op<"ssd_step", [Pure,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "one token of motif.ssd: the state in, the output and the state out";
  let description = [{
    The operands of `motif.ssd` at one position, `x: [B, H, P]`, `a: [B, H]`
    or `[B, H, N]`, `B, C: [B, G, N]`, and the state `h: [B, H, P, N]`, give
    the output `y: [B, H, P]` and the next state `[B, H, P, N]`. Running it
    T times from a zero state gives `motif.ssd`.
    ```mlir
    %y, %h1 = motif.ssd_step %x, %a, %B, %C state %h0 : (tensor<?x4x8xf32>, tensor<?x4xf32>, tensor<?x1x16xf32>, tensor<?x1x16xf32>, tensor<?x4x8x16xf32>) -> (tensor<?x4x8xf32>, tensor<?x4x8x16xf32>)
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Motif_Tensor:$a, Motif_Tensor:$B, Motif_Tensor:$C,
                       Motif_Tensor:$h);
  let results = (outs Motif_Tensor:$y, Motif_Tensor:$h_next);
  let assemblyFormat = [{
    $x `,` $a `,` $B `,` $C `state` $h attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Convolution and pooling
//===----------------------------------------------------------------------===//

def Motif_Conv1dOp : Motif_InferOp<"conv1d", [Pure]> {
  let summary = "1-d convolution over T, channels last";
  let description = [{
    `x: [B, T, Cin]`, `w: [Cout, Cin/groups, K]`; `causal` pads K-1 on the left.
    ```mlir
    %y = motif.conv1d %x, %w, %b {groups = 1536 : i64, causal = true} : (tensor<?x?x1536xf32>, tensor<1536x1x4xf32>, tensor<1536xf32>) -> tensor<?x?x1536xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Motif_Tensor:$w, Optional<Motif_Tensor>:$b,
                       DefaultValuedAttr<I64Attr, "1">:$stride,
                       DefaultValuedAttr<I64Attr, "0">:$padding,
                       DefaultValuedAttr<I64Attr, "1">:$dilation,
                       DefaultValuedAttr<I64Attr, "1">:$groups,
                       DefaultValuedAttr<BoolAttr, "false">:$causal);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x `,` $w (`,` $b^)? attr-dict `:` functional-type(operands, results)";
}

def Motif_Conv2dOp : Motif_InferOp<"conv2d", [Pure]> {
  let summary = "2-d convolution, NCHW";
  let description = [{
    ```mlir
    %y = motif.conv2d %x, %w {stride = array<i64: 2, 2>, padding = array<i64: 3, 3>} : (tensor<?x3x224x224xf32>, tensor<64x3x7x7xf32>) -> tensor<?x64x112x112xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Motif_Tensor:$w, Optional<Motif_Tensor>:$b,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$stride,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0}">:$padding,
                       DefaultValuedAttr<I64Attr, "1">:$groups);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x `,` $w (`,` $b^)? attr-dict `:` functional-type(operands, results)";
}

def Motif_Pool2dOp : Motif_InferOp<"pool2d", [Pure]> {
  let summary = "2-d max or average pooling, NCHW";
  let description = [{
    ```mlir
    %y = motif.pool2d %x {kind = #motif.pool<max>, kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, padding = array<i64: 1, 1>} : (tensor<?x64x112x112xf32>) -> tensor<?x64x56x56xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Motif_PoolKindAttr:$kind,
                       DenseI64ArrayAttr:$kernel,
                       DenseI64ArrayAttr:$stride,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0}">:$padding);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` functional-type(operands, results)";
}

def Motif_ReduceOp : Motif_InferOp<"reduce", [Pure]> {
  let summary = "sum, mean or max over axes";
  let description = [{
    ```mlir
    %m = motif.reduce %x {kind = #motif.reduce<mean>, axes = array<i64: 2, 3>} : (tensor<?x512x7x7xf32>) -> tensor<?x512xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Motif_ReduceKindAttr:$kind,
                       DenseI64ArrayAttr:$axes,
                       DefaultValuedAttr<BoolAttr, "false">:$keepdim);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` functional-type(operands, results)";
}

def Motif_BatchNormOp : Motif_InferOp<"batch_norm", [Pure]> {
  let summary = "batch normalization over dim 1";
  let description = [{
    ```mlir
    %y = motif.batch_norm %x, %w, %b, %mean, %var {eps = 1.000000e-05 : f64} : (tensor<?x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64x56x56xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Motif_Tensor:$w, Motif_Tensor:$b,
                       Motif_Tensor:$running_mean, Motif_Tensor:$running_var,
                       DefaultValuedAttr<F64Attr, "1e-5">:$eps,
                       DefaultValuedAttr<F64Attr, "0.1">:$momentum);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x `,` $w `,` $b `,` $running_mean `,` $running_var attr-dict `:` functional-type(operands, results)";
}

def Motif_DropoutOp : Motif_InferOp<"dropout"> {
  let summary = "zeroes elements with probability p while training";
  let description = [{
    ```mlir
    %y = motif.dropout %x {p = 1.000000e-01 : f64} : tensor<?x?x768xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, F64Attr:$p);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x)";
}

def Motif_RandomNormalOp : Motif_InferOp<"random_normal", [
    DeclareOpInterfaceMethods<MotifVJPOpInterface, ["buildVJP"]>]> {
  let summary = "standard normal noise while training, zero otherwise";
  let description = [{
    A tensor of the type of `like` (whose data is not read) holding
    independent standard normal draws while training and zeros in inference
    (draws then too with `always`).
    Draw i is a function of (`seed`, i, the run's random step counter) only —
    a counter-based generator — so a resumed run, a recomputation and every
    backend draw the same numbers; the trainer advances the counter once per
    step and checkpoints it. No gradient flows to `like`.
    ```mlir
    %n = motif.random_normal %logits {seed = 7 : i64} : tensor<?x?x8xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$like, I64Attr:$seed,
                       DefaultValuedAttr<BoolAttr, "false">:$always);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$like attr-dict `:` type($like)";
}

def Motif_CrossEntropyOp : Motif_InferOp<"cross_entropy", [Pure]> {
  let summary = "mean softmax cross-entropy over non-ignored targets";
  let description = [{
    ```mlir
    %l = motif.cross_entropy %logits, %targets : (tensor<?x?x50257xf32>, tensor<?x?xi32>) -> tensor<f32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$logits, Motif_Tensor:$targets,
                       DefaultValuedAttr<I64Attr, "-1">:$ignore_index,
                       DefaultValuedAttr<F64Attr, "0.0">:$label_smoothing);
  let results = (outs Motif_Scalar:$result);
  let assemblyFormat = "$logits `,` $targets attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Shapes
//===----------------------------------------------------------------------===//

def Motif_ReshapeOp : Motif_InferOp<"reshape", [Pure]> {
  let summary = "reshape (0 keeps a dim, one -1 is inferred)";
  let description = [{
    ```mlir
    %y = motif.reshape %x {shape = array<i64: 0, 0, 12, 64>} : (tensor<?x?x768xf32>) -> tensor<?x?x12x64xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, DenseI64ArrayAttr:$shape);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` functional-type(operands, results)";
}

def Motif_TransposeOp : Motif_InferOp<"transpose", [Pure]> {
  let summary = "permutes dims";
  let description = [{
    ```mlir
    %y = motif.transpose %x {perm = array<i64: 0, 2, 1>} : (tensor<?x768x196xf32>) -> tensor<?x196x768xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, DenseI64ArrayAttr:$perm);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` functional-type(operands, results)";
}

def Motif_ConcatOp : Motif_InferOp<"concat", [Pure]> {
  let summary = "joins tensors along an axis";
  let description = [{
    ```mlir
    %y = motif.concat %a, %b {axis = 1 : i64} : (tensor<?x1x768xf32>, tensor<?x196x768xf32>) -> tensor<?x197x768xf32>
    ```
  }];
  let arguments = (ins Variadic<Motif_Tensor>:$xs, I64Attr:$axis);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$xs attr-dict `:` functional-type(operands, results)";
}

def Motif_SplitOp : Motif_InferOp<"split", [Pure]> {
  let summary = "splits a tensor along an axis into the given sizes";
  let description = [{
    ```mlir
    %q, %k, %v = motif.split %qkv {axis = -1 : i64, sizes = array<i64: 768, 768, 768>} : (tensor<?x?x2304xf32>) -> (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>)
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, I64Attr:$axis, DenseI64ArrayAttr:$sizes);
  let results = (outs Variadic<Motif_Tensor>:$results);
  let assemblyFormat = "$x attr-dict `:` functional-type(operands, results)";
}

def Motif_SliceOp : Motif_InferOp<"slice", [Pure]> {
  let summary = "start:end:step along one axis";
  let description = [{
    ```mlir
    %cls = motif.slice %x {axis = 1 : i64, start = 0 : i64, end = 1 : i64} : (tensor<?x197x768xf32>) -> tensor<?x1x768xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, I64Attr:$axis, I64Attr:$start, I64Attr:$end,
                       DefaultValuedAttr<I64Attr, "1">:$step);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` functional-type(operands, results)";
}

def Motif_ExpandOp : Motif_InferOp<"expand", [Pure]> {
  let summary = "broadcasts size-1 dims to the sizes of another tensor";
  let description = [{
    ```mlir
    %c = motif.expand %cls, %x {dims = array<i64: 0>} : (tensor<1x1x768xf32>, tensor<?x196x768xf32>) -> tensor<?x1x768xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Motif_Tensor:$like, DenseI64ArrayAttr:$dims);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x `,` $like attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Backward
//===----------------------------------------------------------------------===//

def Motif_VjpOp : Motif_Op<"vjp", [Pure, AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "the vector-Jacobian product of one forward op";
  let description = [{
    Made by the autodiff pass: given the forward op's inputs and outputs and
    the gradients of its outputs, gives the gradients of the inputs marked in
    `needs` (floating-point inputs that lead to a parameter or an input).
    `op` names the forward op and `fwd_attrs` holds its attributes, so that
    each backend implements one backward kernel per op. `saved` has one entry
    per input and then per output: true where the backward reads its data
    (the op's VJPOpInterface::getVJPSaved); the others are read for their
    shapes only, so their buffers are freed after their last forward use.
    Without `saved`, every input and output is read.
    ```mlir
    %dx, %dw, %db = motif.vjp "motif.linear"(%x, %w, %b) outputs(%y) grads(%dy)
        {fwd_attrs = {}, needs = array<i1: true, true, true>}
        : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<?x4xf32>, tensor<?x4xf32>)
        -> (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32>)
    ```
  }];
  let arguments = (ins StrAttr:$op, DictionaryAttr:$fwd_attrs,
                       DenseBoolArrayAttr:$needs,
                       OptionalAttr<DenseBoolArrayAttr>:$saved,
                       Variadic<Motif_Tensor>:$inputs,
                       Variadic<Motif_Tensor>:$outputs,
                       Variadic<Motif_Tensor>:$grads);
  let results = (outs Variadic<Motif_Tensor>:$input_grads);
  let assemblyFormat = [{
    $op `(` $inputs `)` `outputs` `(` $outputs `)` `grads` `(` $grads `)`
    attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Nonlinear recurrences
//===----------------------------------------------------------------------===//

def Motif_RecurrentOp : Motif_InferOp<"recurrent", [RecursiveMemoryEffects,
    DeclareOpInterfaceMethods<MotifVJPOpInterface, ["buildVJP"]>]> {
  let summary = "a nonlinear recurrence whose cell is a region, run over T";
  let description = [{
    `x: [B, T, D]`, optional `h0: [B, state]` (zeros when absent). For each
    step t in order, the `cell` region takes `x_t: [B, D]` and the state
    `s_{t-1}: [B, state]` and yields `s_t: [B, state]`; the result stacks
    the states `[B, T, state]`. The cell is any block of motif ops (an
    LSTM's gates, a GRU's); parameters it reads are read by symbol, once for
    all steps. Sequential over time for any T; its backward
    (`motif.recurrent_vjp`) runs the cell's reverse sweep from the last step
    to the first, recomputing the cell's inner values from the saved states.
    ```mlir
    %hs = motif.recurrent %x {state = 32 : i64} : (tensor<?x?x16xf32>) -> tensor<?x?x32xf32> cell {
    ^bb0(%xt: tensor<?x16xf32>, %s: tensor<?x32xf32>):
      motif.yield %s : tensor<?x32xf32>
    }
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Optional<Motif_Tensor>:$h0,
                       I64Attr:$state);
  let results = (outs Motif_Tensor:$result);
  let regions = (region AnyRegion:$cell);
  let assemblyFormat = [{
    $x (`init` $h0^)? attr-dict `:` functional-type(operands, results) `cell` $cell
  }];
  let hasRegionVerifier = 1;
}

def Motif_RecurrentStepOp : Motif_Op<"recurrent_step", [RecursiveMemoryEffects,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "one step of motif.recurrent: the cell on one token";
  let description = [{
    The step form for inference: `x: [B, D]` and the state `h: [B, S]` give
    the next state `[B, S]` by running the `cell` region once (the same
    region as the `motif.recurrent` it steps). Running it T times from
    the recurrent's initial state gives the recurrent's states.
    ```mlir
    %h1 = motif.recurrent_step %x, %h0 : (tensor<?x16xf32>, tensor<?x32xf32>) -> tensor<?x32xf32> cell {
    ^bb0(%xt: tensor<?x16xf32>, %s: tensor<?x32xf32>):
      motif.yield %s : tensor<?x32xf32>
    }
    ```
  }];
  let arguments = (ins Motif_Tensor:$x, Motif_Tensor:$h);
  let results = (outs Motif_Tensor:$result);
  let regions = (region AnyRegion:$cell);
  let assemblyFormat = [{
    $x `,` $h attr-dict `:` functional-type(operands, results) `cell` $cell
  }];
  let hasRegionVerifier = 1;
}

def Motif_RecurrentVjpOp : Motif_Op<"recurrent_vjp", [RecursiveMemoryEffects,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "the backward of a motif.recurrent (backpropagation through time)";
  let description = [{
    Made by the autodiff pass from a `motif.recurrent`: `x`, the forward's
    states `hs: [B, T, S]` (its result) and their gradient `dhs`, and `h0`
    when the forward had one. From t = T-1 down to 0 the `cell_bwd` region
    takes `x_t`, `s_{t-1}` (h0 or zeros at t = 0) and the gradient reaching
    `s_t` (dhs_t plus what step t+1 sent back), re-runs the cell and yields
    the gradients of `x_t` and `s_{t-1}`, then one per parameter the cell
    reads. Results: `dx`, `dh0` and, per parameter, its gradient summed over
    the steps.
  }];
  let arguments = (ins Motif_Tensor:$x, Motif_Tensor:$hs, Motif_Tensor:$dhs,
                       Optional<Motif_Tensor>:$h0, I64Attr:$state);
  let results = (outs Motif_Tensor:$dx, Motif_Tensor:$dh0,
                      Variadic<Motif_Tensor>:$dparams);
  let regions = (region SizedRegion<1>:$cellBwd);
  let assemblyFormat = [{
    $x `,` $hs `,` $dhs (`init` $h0^)? attr-dict `:` functional-type(operands, results)
    `cell_bwd` $cellBwd
  }];
}

def Motif_ZerosLikeOp : Motif_InferOp<"zeros_like", [Pure]> {
  let summary = "a tensor of zeros with the type (and dynamic sizes) of another";
  let description = [{
    ```mlir
    %z = motif.zeros_like %x : tensor<?x?x768xf32>
    ```
  }];
  let arguments = (ins Motif_Tensor:$x);
  let results = (outs Motif_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x)";
}

#endif // MOTIF_OPS_TD
