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
