//===- MotifAttrs.td - Attributes of the motif dialect -----*- tablegen -*-===//
#ifndef MOTIF_ATTRS_TD
#define MOTIF_ATTRS_TD

include "dialects/motif/MotifBase.td"
include "mlir/IR/EnumAttr.td"

def Motif_RopeScaling : I32EnumAttr<"RopeScaling", "context extension of rope", [
    I32EnumAttrCase<"None", 0, "none">,
    I32EnumAttrCase<"Ntk", 1, "ntk">,
    I32EnumAttrCase<"Yarn", 2, "yarn">,
    I32EnumAttrCase<"Llama3", 3, "llama3">]> {
  let cppNamespace = "::mlir::motif";
  let genSpecializedAttr = 0;
}
def Motif_RopeScalingAttr : EnumAttr<Motif_Dialect, Motif_RopeScaling, "rope_scaling">;

def Motif_RoutingMode : I32EnumAttr<"RoutingMode", "how moe routes tokens", [
    I32EnumAttrCase<"TopK", 0, "top_k">,
    I32EnumAttrCase<"Switch", 1, "switch">,
    I32EnumAttrCase<"ExpertChoice", 2, "expert_choice">,
    I32EnumAttrCase<"Sigmoid", 3, "sigmoid">,
    I32EnumAttrCase<"NoisyTopK", 4, "noisy_top_k">]> {
  let cppNamespace = "::mlir::motif";
  let genSpecializedAttr = 0;
}
def Motif_RoutingModeAttr : EnumAttr<Motif_Dialect, Motif_RoutingMode, "routing">;

def Motif_PoolKind : I32EnumAttr<"PoolKind", "pooling reduction", [
    I32EnumAttrCase<"Max", 0, "max">,
    I32EnumAttrCase<"Avg", 1, "avg">]> {
  let cppNamespace = "::mlir::motif";
  let genSpecializedAttr = 0;
}
def Motif_PoolKindAttr : EnumAttr<Motif_Dialect, Motif_PoolKind, "pool">;

def Motif_ReduceKind : I32EnumAttr<"ReduceKind", "reduction", [
    I32EnumAttrCase<"Sum", 0, "sum">,
    I32EnumAttrCase<"Mean", 1, "mean">,
    I32EnumAttrCase<"Max", 2, "max">]> {
  let cppNamespace = "::mlir::motif";
  let genSpecializedAttr = 0;
}
def Motif_ReduceKindAttr : EnumAttr<Motif_Dialect, Motif_ReduceKind, "reduce">;

def Motif_InitKind : I32EnumAttr<"InitKind", "parameter initializer", [
    I32EnumAttrCase<"Zeros", 0, "zeros">,
    I32EnumAttrCase<"Ones", 1, "ones">,
    I32EnumAttrCase<"Constant", 2, "constant">,
    I32EnumAttrCase<"Normal", 3, "normal">,
    I32EnumAttrCase<"Uniform", 4, "uniform">,
    I32EnumAttrCase<"XavierUniform", 5, "xavier_uniform">,
    I32EnumAttrCase<"XavierNormal", 6, "xavier_normal">,
    I32EnumAttrCase<"KaimingUniform", 7, "kaiming_uniform">,
    I32EnumAttrCase<"KaimingNormal", 8, "kaiming_normal">,
    I32EnumAttrCase<"S4DReal", 9, "s4d_real">,
    I32EnumAttrCase<"MambaDt", 10, "mamba_dt">]> {
  let cppNamespace = "::mlir::motif";
  let genSpecializedAttr = 0;
}

def Motif_InitAttr : AttrDef<Motif_Dialect, "Init"> {
  let mnemonic = "init";
  let summary = "how a parameter is initialized";
  let description = [{
    `#motif.init<normal, std = 2.000000e-02>`, `#motif.init<zeros>`,
    `#motif.init<normal, std = 4.082483e-03, depth_scaled = 12>`. Only the
    fields that matter for the kind and differ from zero are printed.
    `value` is the constant of `constant` and the gain of xavier/kaiming.
  }];
  let parameters = (ins
    EnumParameter<Motif_InitKind>:$kind,
    APFloatParameter<"">:$mean, APFloatParameter<"">:$std,
    APFloatParameter<"">:$low, APFloatParameter<"">:$high,
    APFloatParameter<"">:$value, "int64_t":$depthScaled);
  let builders = [
    AttrBuilder<(ins "InitKind":$kind, "double":$mean, "double":$std,
                     "double":$low, "double":$high, "double":$value,
                     "int64_t":$depthScaled), [{
      return $_get($_ctxt, kind, ::llvm::APFloat(mean), ::llvm::APFloat(std),
                   ::llvm::APFloat(low), ::llvm::APFloat(high),
                   ::llvm::APFloat(value), depthScaled);
    }]>
  ];
  let hasCustomAssemblyFormat = 1;
}

#endif // MOTIF_ATTRS_TD
