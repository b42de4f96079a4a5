// RUN: motif-opt %s -split-input-file -verify-diagnostics
// The verifiers of the grouped-expert ops (route, permute, grouped_linear,
// combine): each error names the shapes or attributes at fault.

func.func @f(%l: tensor<16x?xf32>) {
  // expected-error @+2 {{the experts dim of the logits must be static and positive}}
  // expected-error @+1 {{failed to infer returned types}}
  %g, %e, %t, %a = motif.moe_route %l : (tensor<16x?xf32>) -> (tensor<32xf32>, tensor<32xi32>, tensor<32xi32>, tensor<f32>)
  return
}

// -----

func.func @f(%l: tensor<16x4xf32>) {
  // expected-error @+2 {{switch routing sends each token to one expert; top_k is 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %g, %e, %t, %a = motif.moe_route %l {routing = #motif<routing switch>} : (tensor<16x4xf32>) -> (tensor<32xf32>, tensor<32xi32>, tensor<32xi32>, tensor<f32>)
  return
}

// -----

func.func @f(%l: tensor<16x4xf32>) {
  // expected-error @+2 {{top_k 5 must be between 1 and the 4 experts}}
  // expected-error @+1 {{failed to infer returned types}}
  %g, %e, %t, %a = motif.moe_route %l {top_k = 5 : i64} : (tensor<16x4xf32>) -> (tensor<80xf32>, tensor<80xi32>, tensor<80xi32>, tensor<f32>)
  return
}

// -----

// The sizes are the routing's: 16 tokens x top 2 = 32 assignments.
func.func @f(%l: tensor<16x4xf32>) {
  // expected-error @+2 {{inferred type(s) 'tensor<32xf32>', 'tensor<32xi32>', 'tensor<32xi32>', 'tensor<f32>' are incompatible with return type(s) of operation 'tensor<16xf32>', 'tensor<16xi32>', 'tensor<16xi32>', 'tensor<f32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %g, %e, %t, %a = motif.moe_route %l : (tensor<16x4xf32>) -> (tensor<16xf32>, tensor<16xi32>, tensor<16xi32>, tensor<f32>)
  return
}

// -----

func.func @f(%x: tensor<16x8xf32>, %e: tensor<32xi32>, %t: tensor<16xi32>) {
  // expected-error @+2 {{expert_ids tensor<32xi32> and token_ids tensor<16xi32> must list the same assignments}}
  // expected-error @+1 {{failed to infer returned types}}
  %r, %o, %w = motif.moe_permute %x, %e, %t {experts = 4 : i64} : (tensor<16x8xf32>, tensor<32xi32>, tensor<16xi32>) -> (tensor<32x8xf32>, tensor<5xi32>, tensor<32xi32>)
  return
}

// -----

func.func @f(%x: tensor<16x8xf32>, %e: tensor<16xi32>, %t: tensor<16xi32>) {
  // expected-error @+2 {{capacity_factor must not be negative (0: no capacity)}}
  // expected-error @+1 {{failed to infer returned types}}
  %r, %o, %w = motif.moe_permute %x, %e, %t {experts = 4 : i64, capacity_factor = -1.0 : f64} : (tensor<16x8xf32>, tensor<16xi32>, tensor<16xi32>) -> (tensor<16x8xf32>, tensor<5xi32>, tensor<16xi32>)
  return
}

// -----

func.func @f(%x: tensor<32x8xf32>, %w: tensor<4x16x8xf32>, %o: tensor<4xi32>) {
  // expected-error @+2 {{offsets tensor<4xi32> must have experts + 1 = 5 entries for weight tensor<4x16x8xf32>}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.grouped_linear %x, %w, %o : (tensor<32x8xf32>, tensor<4x16x8xf32>, tensor<4xi32>) -> tensor<32x16xf32>
  return
}

// -----

func.func @f(%x: tensor<32x8xf32>, %w: tensor<4x16x6xf32>, %o: tensor<5xi32>) {
  // expected-error @+2 {{input tensor<32x8xf32> and weight tensor<4x16x6xf32> must agree on the contracted dim}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.grouped_linear %x, %w, %o : (tensor<32x8xf32>, tensor<4x16x6xf32>, tensor<5xi32>) -> tensor<32x16xf32>
  return
}

// -----

func.func @f(%x: tensor<32x8xf32>, %w: tensor<4x16x8xf32>, %o: tensor<5xi32>, %b: tensor<16xf32>) {
  // expected-error @+2 {{bias must have rank 2, got tensor<16xf32>}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.grouped_linear %x, %w, %o, %b : (tensor<32x8xf32>, tensor<4x16x8xf32>, tensor<5xi32>, tensor<16xf32>) -> tensor<32x16xf32>
  return
}

// -----

func.func @f(%r: tensor<32x8xf32>, %g: tensor<32xf32>, %w: tensor<16xi32>, %t: tensor<32xi32>, %x: tensor<2x8x8xf32>) {
  // expected-error @+2 {{gates tensor<32xf32>, row_of tensor<16xi32> and token_ids tensor<32xi32> must list the same assignments}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.moe_combine %r, %g, %w, %t, %x : (tensor<32x8xf32>, tensor<32xf32>, tensor<16xi32>, tensor<32xi32>, tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
  return
}

// -----

func.func @f(%r: tensor<32x4xf32>, %g: tensor<32xf32>, %w: tensor<32xi32>, %t: tensor<32xi32>, %x: tensor<2x8x8xf32>) {
  // expected-error @+2 {{rows tensor<32x4xf32> and the result tensor<2x8x8xf32> must have the same last dim}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.moe_combine %r, %g, %w, %t, %x : (tensor<32x4xf32>, tensor<32xf32>, tensor<32xi32>, tensor<32xi32>, tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
  return
}

// -----

// moe_route routes the logits it is given: the noise of noisy_top_k is the
// expert-grouping pass's.
func.func @f(%l: tensor<16x4xf32>) {
  // expected-error @+2 {{noisy_top_k is top_k over logits the expert-grouping pass made noisy}}
  // expected-error @+1 {{failed to infer returned types}}
  %g, %e, %t, %a = motif.moe_route %l {routing = #motif<routing noisy_top_k>} : (tensor<16x4xf32>) -> (tensor<32xf32>, tensor<32xi32>, tensor<32xi32>, tensor<f32>)
  return
}

// -----

// The dense form's gates: the assignments must be one list.
func.func @f(%l: tensor<2x8x4xf32>, %g: tensor<32xf32>, %e: tensor<32xi32>, %t: tensor<16xi32>) {
  // expected-error @+2 {{gates tensor<32xf32>, expert_ids tensor<32xi32> and token_ids tensor<16xi32> (and row_of) must list the same assignments}}
  // expected-error @+1 {{failed to infer returned types}}
  %d = motif.moe_gates %l, %g, %e, %t : (tensor<2x8x4xf32>, tensor<32xf32>, tensor<32xi32>, tensor<16xi32>) -> tensor<2x8x4xf32>
  return
}

// -----

func.func @f(%l: tensor<2x8x4xf32>, %g: tensor<16xf32>, %e: tensor<16xi32>, %t: tensor<16xi32>, %r: tensor<8xi32>) {
  // expected-error @+2 {{(and row_of) must list the same assignments}}
  // expected-error @+1 {{failed to infer returned types}}
  %d = motif.moe_gates %l, %g, %e, %t, %r : (tensor<2x8x4xf32>, tensor<16xf32>, tensor<16xi32>, tensor<16xi32>, tensor<8xi32>) -> tensor<2x8x4xf32>
  return
}
