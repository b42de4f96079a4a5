// RUN: motif-opt %s -split-input-file --motif-group-experts=dense=1 | FileCheck %s --enable-var-scope
// The dense form (motif-compile --no-expert-grouping), the reference the
// grouped form is checked against: the same routing (moe_route) made dense
// gates [..., E] (moe_gates), then every expert's body over every token with
// its slice of the stacked weights, weighted by its column of the gates and
// summed in expert order. No gather, grouped GEMM or combine.

// Top-k (k = 1 of 2 experts): two bodies, each over all 16 tokens.
motif.param @r : tensor<2x16xf32> init #motif.init<zeros>
motif.param @w1 : tensor<2x24x16xf32> init #motif.init<zeros>
motif.param @w2 : tensor<2x16x24xf32> init #motif.init<zeros>
func.func @top_k(%x: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<f32>) {
  %r = motif.get_param @r : tensor<2x16xf32>
  %y, %aux = motif.moe %x, %r {experts = 2 : i64, top_k = 1 : i64, motif.scope = "ffn.moe"} : (tensor<2x8x16xf32>, tensor<2x16xf32>) -> (tensor<2x8x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    %w1 = motif.get_param @w1 : tensor<24x16xf32>
    %a = motif.linear %t, %w1 : (tensor<?x16xf32>, tensor<24x16xf32>) -> tensor<?x24xf32>
    %s = motif.silu %a : tensor<?x24xf32>
    %w2 = motif.get_param @w2 : tensor<16x24xf32>
    %o = motif.linear %s, %w2 : (tensor<?x24xf32>, tensor<16x24xf32>) -> tensor<?x16xf32>
    motif.yield %o : tensor<?x16xf32>
  } shared {
  }
  return %y, %aux : tensor<2x8x16xf32>, tensor<f32>
}

// CHECK-LABEL: func.func @top_k
// CHECK-SAME: (%[[X:.*]]: tensor<2x8x16xf32>)
// CHECK: %[[L:.*]] = motif.linear %[[X]], %{{.*}} : (tensor<2x8x16xf32>, tensor<2x16xf32>) -> tensor<2x8x2xf32>
// CHECK: %[[G:.*]], %[[E:.*]], %[[T:.*]], %[[AUX:.*]] = motif.moe_route %[[L]] {motif.scope = "ffn.moe", top_k = 1 : i64} : (tensor<2x8x2xf32>) -> (tensor<16xf32>, tensor<16xi32>, tensor<16xi32>, tensor<f32>)
// CHECK-NOT: motif.moe_permute
// CHECK: %[[D:.*]] = motif.moe_gates %[[L]], %[[G]], %[[E]], %[[T]] : (tensor<2x8x2xf32>, tensor<16xf32>, tensor<16xi32>, tensor<16xi32>) -> tensor<2x8x2xf32>
// Expert 0: its slices of @w1 and @w2, over every token.
// CHECK: %[[W1A:.*]] = motif.get_param @w1 : tensor<2x24x16xf32>
// CHECK: %[[S1A:.*]] = motif.slice %[[W1A]] {axis = 0 : i64, end = 1 : i64, start = 0 : i64}
// CHECK: %[[R1A:.*]] = motif.reshape %[[S1A]] {shape = array<i64: 24, 16>} : (tensor<1x24x16xf32>) -> tensor<24x16xf32>
// CHECK: %[[A0:.*]] = motif.linear %[[X]], %[[R1A]] : (tensor<2x8x16xf32>, tensor<24x16xf32>) -> tensor<2x8x24xf32>
// CHECK: %[[SI0:.*]] = motif.silu %[[A0]] : tensor<2x8x24xf32>
// CHECK: motif.get_param @w2 : tensor<2x16x24xf32>
// CHECK: %[[O0:.*]] = motif.linear %[[SI0]], %{{.*}} : (tensor<2x8x24xf32>, tensor<16x24xf32>) -> tensor<2x8x16xf32>
// CHECK: %[[C0:.*]] = motif.slice %[[D]] {axis = 2 : i64, end = 1 : i64, start = 0 : i64} : (tensor<2x8x2xf32>) -> tensor<2x8x1xf32>
// CHECK: %[[Y0:.*]] = motif.mul %[[C0]], %[[O0]] : (tensor<2x8x1xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
// Expert 1:
// CHECK: motif.slice %{{.*}} {axis = 0 : i64, end = 2 : i64, start = 1 : i64}
// CHECK: %[[O1:.*]] = motif.linear {{.*}} -> tensor<2x8x16xf32>
// CHECK: %[[C1:.*]] = motif.slice %[[D]] {axis = 2 : i64, end = 2 : i64, start = 1 : i64}
// CHECK: %[[Y1:.*]] = motif.mul %[[C1]], %[[O1]]
// CHECK: %[[Y:.*]] = motif.add %[[Y0]], %[[Y1]]
// CHECK-NOT: motif.grouped_linear
// CHECK-NOT: motif.moe_combine
// CHECK: return %[[Y]], %[[AUX]]

// -----

// Switch with capacity factor 0.5: the same permutation as the grouped form
// decides which assignments are kept (its row_of; its rows are not used), and
// the dense gates hold only those: a dropped token gets no expert output.
motif.param @r : tensor<2x16xf32> init #motif.init<zeros>
motif.param @w : tensor<2x16x16xf32> init #motif.init<zeros>
func.func @switch(%x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  %r = motif.get_param @r : tensor<2x16xf32>
  %y, %aux = motif.moe %x, %r {experts = 2 : i64, top_k = 1 : i64, routing = #motif<routing switch>, capacity_factor = 5.000000e-01 : f64} : (tensor<2x8x16xf32>, tensor<2x16xf32>) -> (tensor<2x8x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    %w = motif.get_param @w : tensor<16x16xf32>
    %o = motif.linear %t, %w : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
    motif.yield %o : tensor<?x16xf32>
  } shared {
  }
  return %y : tensor<2x8x16xf32>
}

// CHECK-LABEL: func.func @switch
// CHECK-SAME: (%[[X:.*]]: tensor<2x8x16xf32>)
// CHECK: %[[L:.*]] = motif.linear %[[X]]
// CHECK: %[[G:.*]], %[[E:.*]], %[[T:.*]], %{{.*}} = motif.moe_route %[[L]] {capacity_factor = 5.000000e-01 : f64, routing = #motif<routing switch>, top_k = 1 : i64}
// CHECK: %{{.*}}, %{{.*}}, %[[ROWOF:.*]] = motif.moe_permute %[[X]], %[[E]], %[[T]] {capacity_factor = 5.000000e-01 : f64, experts = 2 : i64} : (tensor<2x8x16xf32>, tensor<16xi32>, tensor<16xi32>) -> (tensor<8x16xf32>, tensor<3xi32>, tensor<16xi32>)
// CHECK: %[[D:.*]] = motif.moe_gates %[[L]], %[[G]], %[[E]], %[[T]], %[[ROWOF]] : (tensor<2x8x2xf32>, tensor<16xf32>, tensor<16xi32>, tensor<16xi32>, tensor<16xi32>) -> tensor<2x8x2xf32>
// CHECK: motif.linear %[[X]], {{.*}} -> tensor<2x8x16xf32>
// CHECK: motif.slice %[[D]] {axis = 2 : i64, end = 1 : i64, start = 0 : i64}
// CHECK: motif.linear %[[X]], {{.*}} -> tensor<2x8x16xf32>
// CHECK: motif.slice %[[D]] {axis = 2 : i64, end = 2 : i64, start = 1 : i64}
// CHECK-NOT: motif.grouped_linear

// -----

// Expert choice: the routing lists each expert's tokens (its capacity is the
// routing's); the dense gates place them, dynamic batch and sequence.
motif.param @r : tensor<2x16xf32> init #motif.init<zeros>
motif.param @w : tensor<2x16x16xf32> init #motif.init<zeros>
func.func @expert_choice(%x: tensor<?x?x16xf32>) -> tensor<?x?x16xf32> {
  %r = motif.get_param @r : tensor<2x16xf32>
  %y, %aux = motif.moe %x, %r {experts = 2 : i64, top_k = 1 : i64, routing = #motif<routing expert_choice>, capacity_factor = 1.000000e+00 : f64} : (tensor<?x?x16xf32>, tensor<2x16xf32>) -> (tensor<?x?x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    %w = motif.get_param @w : tensor<16x16xf32>
    %o = motif.linear %t, %w : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
    motif.yield %o : tensor<?x16xf32>
  } shared {
  }
  return %y : tensor<?x?x16xf32>
}

// CHECK-LABEL: func.func @expert_choice
// CHECK: %[[L:.*]] = motif.linear {{.*}} -> tensor<?x?x2xf32>
// CHECK: %[[G:.*]], %[[E:.*]], %[[T:.*]], %{{.*}} = motif.moe_route %[[L]] {capacity_factor = 1.000000e+00 : f64, routing = #motif<routing expert_choice>, top_k = 1 : i64} : (tensor<?x?x2xf32>) -> (tensor<?xf32>, tensor<?xi32>, tensor<?xi32>, tensor<f32>)
// CHECK-NOT: motif.moe_permute
// CHECK: %[[D:.*]] = motif.moe_gates %[[L]], %[[G]], %[[E]], %[[T]] : (tensor<?x?x2xf32>, tensor<?xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x?x2xf32>
// CHECK: motif.slice %[[D]] {axis = 2 : i64, end = 1 : i64, start = 0 : i64} : (tensor<?x?x2xf32>) -> tensor<?x?x1xf32>
// CHECK: motif.slice %[[D]] {axis = 2 : i64, end = 2 : i64, start = 1 : i64}

// -----

// Sigmoid scores (DeepSeek-V3) with both losses, and a shared expert: the
// routing as in the grouped form, the shared expert added after the routed
// ones, as there.
motif.param @r : tensor<2x16xf32> init #motif.init<zeros>
motif.param @w : tensor<2x16x16xf32> init #motif.init<zeros>
motif.param @sw : tensor<1x16x16xf32> init #motif.init<zeros>
func.func @sigmoid(%x: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<f32>) {
  %r = motif.get_param @r : tensor<2x16xf32>
  %y, %aux = motif.moe %x, %r {experts = 2 : i64, top_k = 1 : i64, shared_experts = 1 : i64, routing = #motif<routing sigmoid>, aux_loss_coef = 1.000000e-03 : f64, z_loss_coef = 1.000000e-04 : f64} : (tensor<2x8x16xf32>, tensor<2x16xf32>) -> (tensor<2x8x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    %w = motif.get_param @w : tensor<16x16xf32>
    %o = motif.linear %t, %w : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
    motif.yield %o : tensor<?x16xf32>
  } shared {
  ^bb0(%t: tensor<?x16xf32>):
    %w = motif.get_param @sw : tensor<16x16xf32>
    %o = motif.linear %t, %w : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
    motif.yield %o : tensor<?x16xf32>
  }
  return %y, %aux : tensor<2x8x16xf32>, tensor<f32>
}

// CHECK-LABEL: func.func @sigmoid
// CHECK: %{{.*}}, %{{.*}}, %{{.*}}, %[[AUX:.*]] = motif.moe_route %{{.*}} {aux_loss_coef = 1.000000e-03 : f64, routing = #motif<routing sigmoid>, top_k = 1 : i64, z_loss_coef = 1.000000e-04 : f64}
// CHECK: motif.moe_gates
// CHECK: %[[Y:.*]] = motif.add %{{.*}}, %{{.*}} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>)
// CHECK: motif.get_param @sw : tensor<1x16x16xf32>
// CHECK: %[[S:.*]] = motif.linear
// CHECK: %[[YS:.*]] = motif.add %[[Y]], %[[S]]
// CHECK: return %[[YS]], %[[AUX]]

// -----

// Noisy top-k: the same noisy logits as the grouped form (the same seeded
// draw, so dense and grouped route alike in training too); the dense gates
// take the clean logits' shape.
motif.param @r : tensor<2x16xf32> init #motif.init<zeros>
motif.param @n : tensor<2x16xf32> init #motif.init<zeros>
motif.param @w : tensor<2x16x16xf32> init #motif.init<zeros>
func.func @noisy(%x: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<f32>) {
  %r = motif.get_param @r : tensor<2x16xf32>
  %n = motif.get_param @n : tensor<2x16xf32>
  %y, %aux = motif.moe %x, %r, %n {experts = 2 : i64, top_k = 1 : i64, routing = #motif<routing noisy_top_k>, motif.scope = "moe"} : (tensor<2x8x16xf32>, tensor<2x16xf32>, tensor<2x16xf32>) -> (tensor<2x8x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    %w = motif.get_param @w : tensor<16x16xf32>
    %o = motif.linear %t, %w : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
    motif.yield %o : tensor<?x16xf32>
  } shared {
  }
  return %y, %aux : tensor<2x8x16xf32>, tensor<f32>
}

// CHECK-LABEL: func.func @noisy
// CHECK: %[[L:.*]] = motif.linear
// CHECK: %[[SP:.*]] = motif.softplus
// CHECK: %[[EPS:.*]] = motif.random_normal %[[L]] {seed = {{[0-9]+}} : i64} : tensor<2x8x2xf32>
// CHECK: %[[NZ:.*]] = motif.mul %[[EPS]], %[[SP]]
// CHECK: %[[H:.*]] = motif.add %[[L]], %[[NZ]]
// CHECK: %[[G:.*]], %[[E:.*]], %[[T:.*]], %{{.*}} = motif.moe_route %[[H]] {motif.scope = "moe", top_k = 1 : i64}
// CHECK: motif.moe_gates %[[L]], %[[G]], %[[E]], %[[T]]

// -----

// A body grouping refuses (a per-expert parameter read outside a linear) runs
// densely: each expert reads its slice.
motif.param @r : tensor<2x16xf32> init #motif.init<zeros>
motif.param @s : tensor<2x16xf32> init #motif.init<zeros>
func.func @any_body(%x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  %r = motif.get_param @r : tensor<2x16xf32>
  %y, %aux = motif.moe %x, %r {experts = 2 : i64, top_k = 1 : i64} : (tensor<2x8x16xf32>, tensor<2x16xf32>) -> (tensor<2x8x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    %s = motif.get_param @s : tensor<16xf32>
    %o = motif.mul %t, %s : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
    motif.yield %o : tensor<?x16xf32>
  } shared {
  }
  return %y : tensor<2x8x16xf32>
}

// CHECK-LABEL: func.func @any_body
// CHECK-SAME: (%[[X:.*]]: tensor<2x8x16xf32>)
// CHECK: %[[S0:.*]] = motif.slice %{{.*}} {axis = 0 : i64, end = 1 : i64, start = 0 : i64} : (tensor<2x16xf32>) -> tensor<1x16xf32>
// CHECK: %[[R0:.*]] = motif.reshape %[[S0]] {shape = array<i64: 16>}
// CHECK: motif.mul %[[X]], %[[R0]] : (tensor<2x8x16xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
