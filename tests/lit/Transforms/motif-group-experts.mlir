// RUN: motif-opt %s -split-input-file --motif-group-experts -verify-diagnostics | FileCheck %s --enable-var-scope
// Expert grouping: each motif.moe becomes the router's logits, the routing
// decision (moe_route), the permutation grouping the assignments by expert
// (moe_permute), the expert body once over all rows with each linear a
// grouped GEMM over the stacked weights, and the weighted un-permutation
// (moe_combine). 16 tokens (2 x 8), 4 experts: the sizes are static.

// Top-k (k = 2), softmax after selection (normalize_weights, the default):
// 32 assignments, 32 rows, no capacity.
motif.param @r : tensor<4x16xf32> init #motif.init<zeros>
motif.param @w1 : tensor<4x24x16xf32> init #motif.init<zeros>
motif.param @w3 : tensor<4x24x16xf32> init #motif.init<zeros>
motif.param @w2 : tensor<4x16x24xf32> init #motif.init<zeros>
func.func @top_k(%x: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<f32>) {
  %r = motif.get_param @r : tensor<4x16xf32>
  %y, %aux = motif.moe %x, %r {experts = 4 : i64, top_k = 2 : i64, motif.scope = "ffn.moe"} : (tensor<2x8x16xf32>, tensor<4x16xf32>) -> (tensor<2x8x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    %w1 = motif.get_param @w1 : tensor<24x16xf32>
    %a = motif.linear %t, %w1 : (tensor<?x16xf32>, tensor<24x16xf32>) -> tensor<?x24xf32>
    %s = motif.silu %a : tensor<?x24xf32>
    %w3 = motif.get_param @w3 : tensor<24x16xf32>
    %b = motif.linear %t, %w3 : (tensor<?x16xf32>, tensor<24x16xf32>) -> tensor<?x24xf32>
    %m = motif.mul %s, %b : (tensor<?x24xf32>, tensor<?x24xf32>) -> tensor<?x24xf32>
    %w2 = motif.get_param @w2 : tensor<16x24xf32>
    %o = motif.linear %m, %w2 : (tensor<?x24xf32>, tensor<16x24xf32>) -> tensor<?x16xf32>
    motif.yield %o : tensor<?x16xf32>
  } shared {
  }
  return %y, %aux : tensor<2x8x16xf32>, tensor<f32>
}

// CHECK-LABEL: func.func @top_k
// CHECK-SAME: (%[[X:.*]]: tensor<2x8x16xf32>)
// CHECK-NOT: motif.moe {{.*}}experts {
// CHECK: %[[R:.*]] = motif.get_param @r
// CHECK: %[[L:.*]] = motif.linear %[[X]], %[[R]] : (tensor<2x8x16xf32>, tensor<4x16xf32>) -> tensor<2x8x4xf32>
// Attributes at their defaults (top_k = 2, softmax after selection) are not
// printed; the moe's scope names the layer in metrics.
// CHECK: %[[G:.*]], %[[E:.*]], %[[T:.*]], %[[AUX:.*]] = motif.moe_route %[[L]] {motif.scope = "ffn.moe"} : (tensor<2x8x4xf32>) -> (tensor<32xf32>, tensor<32xi32>, tensor<32xi32>, tensor<f32>)
// CHECK: %[[ROWS:.*]], %[[OFF:.*]], %[[ROWOF:.*]] = motif.moe_permute %[[X]], %[[E]], %[[T]] {experts = 4 : i64, motif.scope = "ffn.moe"} : (tensor<2x8x16xf32>, tensor<32xi32>, tensor<32xi32>) -> (tensor<32x16xf32>, tensor<5xi32>, tensor<32xi32>)
// CHECK: %[[W1:.*]] = motif.get_param @w1 : tensor<4x24x16xf32>
// CHECK: %[[A:.*]] = motif.grouped_linear %[[ROWS]], %[[W1]], %[[OFF]] : (tensor<32x16xf32>, tensor<4x24x16xf32>, tensor<5xi32>) -> tensor<32x24xf32>
// CHECK: %[[S:.*]] = motif.silu %[[A]] : tensor<32x24xf32>
// CHECK: %[[W3:.*]] = motif.get_param @w3 : tensor<4x24x16xf32>
// CHECK: %[[B:.*]] = motif.grouped_linear %[[ROWS]], %[[W3]], %[[OFF]]
// CHECK: %[[M:.*]] = motif.mul %[[S]], %[[B]] : (tensor<32x24xf32>, tensor<32x24xf32>) -> tensor<32x24xf32>
// CHECK: %[[W2:.*]] = motif.get_param @w2 : tensor<4x16x24xf32>
// CHECK: %[[O:.*]] = motif.grouped_linear %[[M]], %[[W2]], %[[OFF]] : (tensor<32x24xf32>, tensor<4x16x24xf32>, tensor<5xi32>) -> tensor<32x16xf32>
// CHECK: %[[Y:.*]] = motif.moe_combine %[[O]], %[[G]], %[[ROWOF]], %[[T]], %[[X]] : (tensor<32x16xf32>, tensor<32xf32>, tensor<32xi32>, tensor<32xi32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
// CHECK: return %[[Y]], %[[AUX]]

// -----

// Top-k with softmax before selection (the gates are the probabilities, not
// renormalized), dynamic batch and sequence: the sizes are tokens x k.
motif.param @r : tensor<4x16xf32> init #motif.init<zeros>
motif.param @w : tensor<4x16x16xf32> init #motif.init<zeros>
motif.param @b : tensor<4x16xf32> init #motif.init<zeros>
func.func @softmax_before(%x: tensor<?x?x16xf32>) -> tensor<?x?x16xf32> {
  %r = motif.get_param @r : tensor<4x16xf32>
  %y, %aux = motif.moe %x, %r {experts = 4 : i64, top_k = 3 : i64, normalize_weights = false} : (tensor<?x?x16xf32>, tensor<4x16xf32>) -> (tensor<?x?x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    %w = motif.get_param @w : tensor<16x16xf32>
    %b = motif.get_param @b : tensor<16xf32>
    %o = motif.linear %t, %w, %b : (tensor<?x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
    %g = motif.gelu %o : tensor<?x16xf32>
    motif.yield %g : tensor<?x16xf32>
  } shared {
  }
  return %y : tensor<?x?x16xf32>
}

// CHECK-LABEL: func.func @softmax_before
// CHECK: motif.moe_route %{{.*}} {normalize_weights = false, top_k = 3 : i64} : (tensor<?x?x4xf32>) -> (tensor<?xf32>, tensor<?xi32>, tensor<?xi32>, tensor<f32>)
// CHECK: %[[ROWS:.*]], %[[OFF:.*]], %{{.*}} = motif.moe_permute {{.*}} -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?xi32>)
// CHECK: %[[W:.*]] = motif.get_param @w : tensor<4x16x16xf32>
// CHECK: %[[B:.*]] = motif.get_param @b : tensor<4x16xf32>
// The bias is stacked too:
// CHECK: %[[O:.*]] = motif.grouped_linear %[[ROWS]], %[[W]], %[[OFF]], %[[B]] : (tensor<?x16xf32>, tensor<4x16x16xf32>, tensor<5xi32>, tensor<4x16xf32>) -> tensor<?x16xf32>
// CHECK: motif.gelu %[[O]]
// CHECK: motif.moe_combine

// -----

// Switch (top-1) with capacity factor 0.5: each expert admits
// ceil(0.5 x 16 / 4) = 2 tokens, so the permutation has 4 x 2 = 8 rows for
// the 16 assignments; the rest are dropped (row_of -1) and reach the output
// through the residual only. The capacity is the permutation's.
motif.param @r : tensor<4x16xf32> init #motif.init<zeros>
motif.param @wi : tensor<4x32x16xf32> init #motif.init<zeros>
motif.param @wo : tensor<4x16x32xf32> init #motif.init<zeros>
func.func @switch(%x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  %r = motif.get_param @r : tensor<4x16xf32>
  %y, %aux = motif.moe %x, %r {experts = 4 : i64, top_k = 1 : i64, routing = #motif<routing switch>, capacity_factor = 5.000000e-01 : f64} : (tensor<2x8x16xf32>, tensor<4x16xf32>) -> (tensor<2x8x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    %wi = motif.get_param @wi : tensor<32x16xf32>
    %h = motif.linear %t, %wi : (tensor<?x16xf32>, tensor<32x16xf32>) -> tensor<?x32xf32>
    %a = motif.relu %h : tensor<?x32xf32>
    %wo = motif.get_param @wo : tensor<16x32xf32>
    %o = motif.linear %a, %wo : (tensor<?x32xf32>, tensor<16x32xf32>) -> tensor<?x16xf32>
    motif.yield %o : tensor<?x16xf32>
  } shared {
  }
  return %y : tensor<2x8x16xf32>
}

// CHECK-LABEL: func.func @switch
// CHECK: motif.moe_route %{{.*}} {capacity_factor = 5.000000e-01 : f64, routing = #motif<routing switch>, top_k = 1 : i64} : (tensor<2x8x4xf32>) -> (tensor<16xf32>, tensor<16xi32>, tensor<16xi32>, tensor<f32>)
// CHECK: %[[ROWS:.*]], %[[OFF:.*]], %{{.*}} = motif.moe_permute {{.*}} {capacity_factor = 5.000000e-01 : f64, experts = 4 : i64} : (tensor<2x8x16xf32>, tensor<16xi32>, tensor<16xi32>) -> (tensor<8x16xf32>, tensor<5xi32>, tensor<16xi32>)
// CHECK: motif.grouped_linear %[[ROWS]], %{{.*}}, %[[OFF]] : (tensor<8x16xf32>, tensor<4x32x16xf32>, tensor<5xi32>) -> tensor<8x32xf32>
// CHECK: motif.relu %{{.*}} : tensor<8x32xf32>
// CHECK: motif.moe_combine {{.*}} : (tensor<8x16xf32>, tensor<16xf32>, tensor<16xi32>, tensor<16xi32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>

// -----

// Expert choice: each expert takes min(16, ceil(1.0 x 16 x 2 / 4)) = 8
// tokens, so 32 assignments listed by expert, 32 rows; the capacity is the
// routing's, the permutation has none.
motif.param @r : tensor<4x16xf32> init #motif.init<zeros>
motif.param @w : tensor<4x16x16xf32> init #motif.init<zeros>
func.func @expert_choice(%x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  %r = motif.get_param @r : tensor<4x16xf32>
  %y, %aux = motif.moe %x, %r {experts = 4 : i64, top_k = 2 : i64, routing = #motif<routing expert_choice>, capacity_factor = 1.000000e+00 : f64} : (tensor<2x8x16xf32>, tensor<4x16xf32>) -> (tensor<2x8x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    %w = motif.get_param @w : tensor<16x16xf32>
    %o = motif.linear %t, %w : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
    motif.yield %o : tensor<?x16xf32>
  } shared {
  }
  return %y : tensor<2x8x16xf32>
}

// CHECK-LABEL: func.func @expert_choice
// CHECK: motif.moe_route %{{.*}} {capacity_factor = 1.000000e+00 : f64, routing = #motif<routing expert_choice>} : (tensor<2x8x4xf32>) -> (tensor<32xf32>, tensor<32xi32>, tensor<32xi32>, tensor<f32>)
// CHECK: motif.moe_permute {{.*}} {experts = 4 : i64} : (tensor<2x8x16xf32>, tensor<32xi32>, tensor<32xi32>) -> (tensor<32x16xf32>, tensor<5xi32>, tensor<32xi32>)
// CHECK: motif.grouped_linear {{.*}} -> tensor<32x16xf32>
// CHECK: motif.moe_combine

// -----

// Shared experts (DeepSeekMoE): fine-grained routed experts grouped as
// above, and two shared experts that run their body densely on every token,
// each with its slice of the stacked weights, added to the combined output.
motif.param @r : tensor<8x16xf32> init #motif.init<zeros>
motif.param @w : tensor<8x16x16xf32> init #motif.init<zeros>
motif.param @sw : tensor<2x16x16xf32> init #motif.init<zeros>
func.func @shared(%x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  %r = motif.get_param @r : tensor<8x16xf32>
  %y, %aux = motif.moe %x, %r {experts = 8 : i64, top_k = 3 : i64, shared_experts = 2 : i64} : (tensor<2x8x16xf32>, tensor<8x16xf32>) -> (tensor<2x8x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    %w = motif.get_param @w : tensor<16x16xf32>
    %o = motif.linear %t, %w : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
    motif.yield %o : tensor<?x16xf32>
  } shared {
  ^bb0(%t: tensor<?x16xf32>):
    %w = motif.get_param @sw : tensor<16x16xf32>
    %o = motif.linear %t, %w : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
    %s = motif.silu %o : tensor<?x16xf32>
    motif.yield %s : tensor<?x16xf32>
  }
  return %y : tensor<2x8x16xf32>
}

// CHECK-LABEL: func.func @shared
// CHECK-SAME: (%[[X:.*]]: tensor<2x8x16xf32>)
// CHECK: motif.moe_route {{.*}} -> (tensor<48xf32>, tensor<48xi32>, tensor<48xi32>, tensor<f32>)
// CHECK: motif.moe_permute {{.*}} -> (tensor<48x16xf32>, tensor<9xi32>, tensor<48xi32>)
// CHECK: %[[Y:.*]] = motif.moe_combine
// CHECK: %[[SW0:.*]] = motif.get_param @sw : tensor<2x16x16xf32>
// CHECK: %[[S0:.*]] = motif.slice %[[SW0]] {axis = 0 : i64, end = 1 : i64, start = 0 : i64}
// CHECK: %[[W0:.*]] = motif.reshape %[[S0]] {shape = array<i64: 16, 16>} : (tensor<1x16x16xf32>) -> tensor<16x16xf32>
// CHECK: %[[O0:.*]] = motif.linear %[[X]], %[[W0]] : (tensor<2x8x16xf32>, tensor<16x16xf32>) -> tensor<2x8x16xf32>
// CHECK: %[[A0:.*]] = motif.silu %[[O0]] : tensor<2x8x16xf32>
// CHECK: %[[Y0:.*]] = motif.add %[[Y]], %[[A0]]
// CHECK: %[[SW1:.*]] = motif.get_param @sw : tensor<2x16x16xf32>
// CHECK: motif.slice %[[SW1]] {axis = 0 : i64, end = 2 : i64, start = 1 : i64}
// CHECK: %[[A1:.*]] = motif.silu
// CHECK: %[[Y1:.*]] = motif.add %[[Y0]], %[[A1]]
// CHECK: return %[[Y1]]

// -----

// A per-expert parameter read outside a linear cannot be grouped: an error
// naming the op, not a silent fallback.
motif.param @r : tensor<4x16xf32> init #motif.init<zeros>
motif.param @s : tensor<4x16xf32> init #motif.init<zeros>
func.func @not_groupable(%x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  %r = motif.get_param @r : tensor<4x16xf32>
  %y, %aux = motif.moe %x, %r {experts = 4 : i64, top_k = 2 : i64} : (tensor<2x8x16xf32>, tensor<4x16xf32>) -> (tensor<2x8x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    %s = motif.get_param @s : tensor<16xf32>
    // expected-error @below {{reads a per-expert parameter other than as the weight or bias of a linear}}
    %o = motif.mul %t, %s : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
    motif.yield %o : tensor<?x16xf32>
  } shared {
  }
  return %y : tensor<2x8x16xf32>
}

// -----

// Sigmoid scores with normalisation (DeepSeek-V3), top-3 of 8 experts, with a
// balance loss and a router z-loss: moe_route takes the routing and both
// coefficients; 16 tokens x 3 = 48 assignments and rows.
motif.param @r : tensor<8x16xf32> init #motif.init<zeros>
motif.param @w : tensor<8x16x16xf32> init #motif.init<zeros>
func.func @sigmoid(%x: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<f32>) {
  %r = motif.get_param @r : tensor<8x16xf32>
  %y, %aux = motif.moe %x, %r {experts = 8 : i64, top_k = 3 : i64, routing = #motif<routing sigmoid>, aux_loss_coef = 1.000000e-03 : f64, z_loss_coef = 1.000000e-04 : f64} : (tensor<2x8x16xf32>, tensor<8x16xf32>) -> (tensor<2x8x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    %w = motif.get_param @w : tensor<16x16xf32>
    %o = motif.linear %t, %w : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
    motif.yield %o : tensor<?x16xf32>
  } shared {
  }
  return %y, %aux : tensor<2x8x16xf32>, tensor<f32>
}

// CHECK-LABEL: func.func @sigmoid
// CHECK: %[[L:.*]] = motif.linear %{{.*}} -> tensor<2x8x8xf32>
// CHECK-NOT: motif.random_normal
// CHECK: %{{.*}}, %{{.*}}, %{{.*}}, %[[AUX:.*]] = motif.moe_route %[[L]] {aux_loss_coef = 1.000000e-03 : f64, routing = #motif<routing sigmoid>, top_k = 3 : i64, z_loss_coef = 1.000000e-04 : f64} : (tensor<2x8x8xf32>) -> (tensor<48xf32>, tensor<48xi32>, tensor<48xi32>, tensor<f32>)
// CHECK: motif.moe_permute {{.*}} {experts = 8 : i64} : {{.*}} -> (tensor<48x16xf32>, tensor<9xi32>, tensor<48xi32>)
// CHECK: motif.grouped_linear {{.*}} -> tensor<48x16xf32>
// CHECK: return %{{.*}}, %[[AUX]]

// -----

// Shazeer's noisy top-k: the routing sees logits + n · softplus(x · noise^T),
// n a seeded standard normal draw (zero outside training), then routes them
// plain top-k (softmax after selection, as in the paper); the noise weight's
// gradient is the linear's, through the mul and the softplus.
motif.param @r : tensor<4x16xf32> init #motif.init<zeros>
motif.param @n : tensor<4x16xf32> init #motif.init<zeros>
motif.param @w : tensor<4x16x16xf32> init #motif.init<zeros>
func.func @noisy(%x: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<f32>) {
  %r = motif.get_param @r : tensor<4x16xf32>
  %n = motif.get_param @n : tensor<4x16xf32>
  %y, %aux = motif.moe %x, %r, %n {experts = 4 : i64, top_k = 2 : i64, routing = #motif<routing noisy_top_k>, motif.scope = "moe"} : (tensor<2x8x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>) -> (tensor<2x8x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    %w = motif.get_param @w : tensor<16x16xf32>
    %o = motif.linear %t, %w : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
    motif.yield %o : tensor<?x16xf32>
  } shared {
  }
  return %y, %aux : tensor<2x8x16xf32>, tensor<f32>
}

// CHECK-LABEL: func.func @noisy
// CHECK-SAME: (%[[X:.*]]: tensor<2x8x16xf32>)
// CHECK: %[[R:.*]] = motif.get_param @r
// CHECK: %[[N:.*]] = motif.get_param @n
// CHECK: %[[L:.*]] = motif.linear %[[X]], %[[R]] : (tensor<2x8x16xf32>, tensor<4x16xf32>) -> tensor<2x8x4xf32>
// CHECK: %[[S:.*]] = motif.linear %[[X]], %[[N]] : (tensor<2x8x16xf32>, tensor<4x16xf32>) -> tensor<2x8x4xf32>
// CHECK: %[[SP:.*]] = motif.softplus %[[S]] : tensor<2x8x4xf32>
// The seed is the moe's scope's hash, the same in every compile.
// CHECK: %[[EPS:.*]] = motif.random_normal %[[L]] {seed = [[SEED:[0-9]+]] : i64} : tensor<2x8x4xf32>
// CHECK: %[[NZ:.*]] = motif.mul %[[EPS]], %[[SP]]
// CHECK: %[[H:.*]] = motif.add %[[L]], %[[NZ]]
// CHECK: motif.moe_route %[[H]] {motif.scope = "moe"} : (tensor<2x8x4xf32>) -> (tensor<32xf32>, tensor<32xi32>, tensor<32xi32>, tensor<f32>)
// CHECK-NOT: noisy_top_k
// CHECK: motif.moe_permute {{.*}} -> (tensor<32x16xf32>, tensor<5xi32>, tensor<32xi32>)
