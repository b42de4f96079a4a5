// RUN: motif-opt %s -split-input-file --motif-autodiff -verify-diagnostics
// What the autodiff pass refuses, with the reason.

// expected-error @+1 {{the model has no loss to differentiate}}
func.func @forward(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  return %x : tensor<?x8xf32>
}

// -----

// expected-error @+1 {{no @forward function to differentiate}}
module {
}

// -----

// expected-error @+1 {{the loss does not depend on any trained parameter}}
func.func @forward(%x: tensor<?x8xf32>, %t: tensor<?xi32>) -> (tensor<f32> {motif.loss}) {
  %l = motif.cross_entropy %x, %t : (tensor<?x8xf32>, tensor<?xi32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// A moe has no backward of its own: expert grouping rewrites it first.
motif.param @r : tensor<2x8xf32> init #motif.init<zeros>
motif.param @e : tensor<2x8x8xf32> init #motif.init<zeros>
func.func @forward(%x: tensor<?x?x8xf32>, %t: tensor<?x?xi32>) -> (tensor<f32> {motif.loss}) {
  %r = motif.get_param @r : tensor<2x8xf32>
  // expected-error @+1 {{is differentiated through the ops the expert-grouping pass makes of it (run --motif-group-experts before autodiff)}}
  %y, %aux = motif.moe %x, %r {experts = 2 : i64, top_k = 1 : i64} : (tensor<?x?x8xf32>, tensor<2x8xf32>) -> (tensor<?x?x8xf32>, tensor<f32>) experts {
  ^bb0(%tok: tensor<?x8xf32>):
    %w = motif.get_param @e : tensor<8x8xf32>
    %o = motif.linear %tok, %w : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
    motif.yield %o : tensor<?x8xf32>
  } shared {
  }
  %l = motif.cross_entropy %y, %t : (tensor<?x?x8xf32>, tensor<?x?xi32>) -> tensor<f32>
  return %l : tensor<f32>
}
