// RUN: not motif-opt %s -split-input-file --motif-derive-inference 2>&1 | FileCheck %s --check-prefix=ERR
// RUN: motif-opt %s -split-input-file --motif-derive-inference="required=false" | FileCheck %s --check-prefix=OPT

// Layers with no decode form: an error naming the op, or (not required) no
// inference functions and the reason on the module.
func.func @forward(%q: tensor<?x?x8xf32> {motif.name = "tokens"}) -> (tensor<?x?x8xf32> {motif.name = "y"}) {
  // ERR: error: 'motif.attention' op has no decode form, so the model cannot be decoded step by step: bidirectional attention sees later positions
  %o = motif.attention %q, %q, %q {heads = 2 : i64, kv_heads = 2 : i64, causal = false} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return %o : tensor<?x?x8xf32>
}
// OPT-LABEL: module attributes {motif.inference_unsupported = "motif.attention: bidirectional attention sees later positions"}
// OPT-NOT: @prefill
// OPT-NOT: @decode_step

// -----

func.func @forward(%x: tensor<?x?x8xf32> {motif.name = "tokens"}, %w: tensor<8x1x3xf32>) -> (tensor<?x?x8xf32> {motif.name = "y"}) {
  // ERR: error: 'motif.conv1d' op has no decode form, so the model cannot be decoded step by step: only a causal depthwise conv1d (stride 1, kernel of 2 or more) has a decode state
  %y = motif.conv1d %x, %w {groups = 8 : i64, padding = 1 : i64} : (tensor<?x?x8xf32>, tensor<8x1x3xf32>) -> tensor<?x?x8xf32>
  return %y : tensor<?x?x8xf32>
}
// OPT-LABEL: module attributes {motif.inference_unsupported = "motif.conv1d: only a causal depthwise conv1d (stride 1, kernel of 2 or more) has a decode state"}
// OPT-NOT: @decode_step

// -----

// Two token inputs, but the decoder reads the source other than as
// cross-attention's keys and values: no encoder-decoder.
module {
  motif.param @wte.weight : tensor<16x8xf32> init <normal, std = 2.000000e-02>
  // ERR: error: the model cannot be decoded step by step: its outputs read two token inputs but it is no encoder-decoder: 'motif.add' reads the encoder other than as cross-attention's keys and values
  func.func @forward(%src: tensor<?x?xi32> {motif.name = "src"}, %tgt: tensor<?x?xi32> {motif.name = "tgt"}) -> (tensor<?x?x8xf32> {motif.name = "y"}) {
    %w = motif.get_param @wte.weight : tensor<16x8xf32>
    %a = motif.embedding %src, %w : (tensor<?x?xi32>, tensor<16x8xf32>) -> tensor<?x?x8xf32>
    %b = motif.embedding %tgt, %w : (tensor<?x?xi32>, tensor<16x8xf32>) -> tensor<?x?x8xf32>
    %y = motif.add %a, %b : (tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
    return %y : tensor<?x?x8xf32>
  }
}
// OPT-LABEL: module attributes {motif.inference_unsupported = "its outputs read two token inputs but it is no encoder-decoder: 'motif.add' reads the encoder other than as cross-attention's keys and values"}
// OPT-NOT: @decode_step

// -----

// A causal cross-attention has no cached form.
module {
  motif.param @wte.weight : tensor<16x8xf32> init <normal, std = 2.000000e-02>
  func.func @forward(%src: tensor<?x?xi32> {motif.name = "src"}, %tgt: tensor<?x?xi32> {motif.name = "tgt"}) -> (tensor<?x?x8xf32> {motif.name = "y"}) {
    %w = motif.get_param @wte.weight : tensor<16x8xf32>
    %a = motif.embedding %src, %w : (tensor<?x?xi32>, tensor<16x8xf32>) -> tensor<?x?x8xf32>
    %b = motif.embedding %tgt, %w : (tensor<?x?xi32>, tensor<16x8xf32>) -> tensor<?x?x8xf32>
    // ERR: error: 'motif.attention' op has no decode form, so the model cannot be decoded step by step: only a non-causal cross-attention without a window or a bias has a decode form
    %y = motif.attention %b, %a, %a {heads = 2 : i64, kv_heads = 2 : i64, causal = true} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
    return %y : tensor<?x?x8xf32>
  }
}
// OPT-LABEL: module attributes {motif.inference_unsupported = "motif.attention: only a non-causal cross-attention without a window or a bias has a decode form"}
