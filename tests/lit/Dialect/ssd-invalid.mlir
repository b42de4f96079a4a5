// RUN: motif-opt %s -split-input-file -verify-diagnostics
// The inference errors of motif.ssd and motif.ssd_step.

// ssd heads not a multiple of the groups
func.func @f(%x: tensor<?x?x3x8xf32>, %a: tensor<?x?x3xf32>, %B: tensor<?x?x2x4xf32>) {
  // expected-error @+2 {{the heads of x tensor<?x?x3x8xf32> (3) must be a multiple of the groups of B and C (2)}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.ssd %x, %a, %B, %B : (tensor<?x?x3x8xf32>, tensor<?x?x3xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>) -> tensor<?x?x3x8xf32>
  return
}

// -----

// ssd decay neither per head nor per key
func.func @f(%x: tensor<?x?x2x8xf32>, %a: tensor<?x?x2x8xf32>, %B: tensor<?x?x1x4xf32>) {
  // expected-error @+2 {{a tensor<?x?x2x8xf32> must be [B, T, H] (a decay per head) or [B, T, H, N] (a decay per key channel)}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.ssd %x, %a, %B, %B : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x1x4xf32>, tensor<?x?x1x4xf32>) -> tensor<?x?x2x8xf32>
  return
}

// -----

// ssd C shape
func.func @f(%x: tensor<?x?x2x8xf32>, %a: tensor<?x?x2xf32>, %B: tensor<?x?x1x4xf32>, %C: tensor<?x?x1x5xf32>) {
  // expected-error @+2 {{C tensor<?x?x1x5xf32> must be [B, T, G, N]}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.ssd %x, %a, %B, %C : (tensor<?x?x2x8xf32>, tensor<?x?x2xf32>, tensor<?x?x1x4xf32>, tensor<?x?x1x5xf32>) -> tensor<?x?x2x8xf32>
  return
}

// -----

// ssd rank of x
func.func @f(%x: tensor<?x?x16xf32>, %a: tensor<?x?x2xf32>, %B: tensor<?x?x1x4xf32>) {
  // expected-error @+2 {{x must have rank 4, got tensor<?x?x16xf32>}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.ssd %x, %a, %B, %B : (tensor<?x?x16xf32>, tensor<?x?x2xf32>, tensor<?x?x1x4xf32>, tensor<?x?x1x4xf32>) -> tensor<?x?x16xf32>
  return
}

// -----

// ssd chunk
func.func @f(%x: tensor<?x?x2x8xf32>, %a: tensor<?x?x2xf32>, %B: tensor<?x?x1x4xf32>) {
  // expected-error @+2 {{chunk must not be negative, got -1}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.ssd %x, %a, %B, %B {chunk = -1 : i64} : (tensor<?x?x2x8xf32>, tensor<?x?x2xf32>, tensor<?x?x1x4xf32>, tensor<?x?x1x4xf32>) -> tensor<?x?x2x8xf32>
  return
}

// -----

// ssd_step state
func.func @f(%x: tensor<2x2x8xf32>, %a: tensor<2x2xf32>, %B: tensor<2x1x4xf32>, %h: tensor<2x2x8x3xf32>) {
  // expected-error @+2 {{state tensor<2x2x8x3xf32> must be [B, H, P, N] = [2, 2, 8, 4]}}
  // expected-error @+1 {{failed to infer returned types}}
  %y, %h1 = motif.ssd_step %x, %a, %B, %B state %h : (tensor<2x2x8xf32>, tensor<2x2xf32>, tensor<2x1x4xf32>, tensor<2x1x4xf32>, tensor<2x2x8x3xf32>) -> (tensor<2x2x8xf32>, tensor<2x2x8x3xf32>)
  return
}
