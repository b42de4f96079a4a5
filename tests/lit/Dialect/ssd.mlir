// RUN: motif-opt %s -split-input-file | motif-opt -split-input-file | FileCheck %s
// RUN: motif-opt %s -split-input-file --mlir-print-op-generic | motif-opt -split-input-file | FileCheck %s
// RUN: motif-opt %s -split-input-file --motif-test-infer-types -verify-diagnostics -o /dev/null
// motif.ssd (Mamba-2's SSD, gated linear attention) and its step form: the
// round trip, and the types inference gives (remade from operands only).

// CHECK-LABEL: func.func @mamba2
func.func @mamba2(%x: tensor<?x?x24x64xf32>, %a: tensor<?x?x24xf32>, %B: tensor<?x?x1x128xf32>) -> tensor<?x?x24x64xf32> {
  // CHECK: motif.ssd %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x?x24x64xf32>, tensor<?x?x24xf32>, tensor<?x?x1x128xf32>, tensor<?x?x1x128xf32>) -> tensor<?x?x24x64xf32>
  // expected-remark @+1 {{inferred 'tensor<?x?x24x64xf32>'}}
  %y = motif.ssd %x, %a, %B, %B : (tensor<?x?x24x64xf32>, tensor<?x?x24xf32>, tensor<?x?x1x128xf32>, tensor<?x?x1x128xf32>) -> tensor<?x?x24x64xf32>
  // CHECK: motif.ssd {{.*}} {chunk = 64 : i64}
  // expected-remark @+1 {{inferred 'tensor<?x?x24x64xf32>'}}
  %z = motif.ssd %y, %a, %B, %B {chunk = 64 : i64} : (tensor<?x?x24x64xf32>, tensor<?x?x24xf32>, tensor<?x?x1x128xf32>, tensor<?x?x1x128xf32>) -> tensor<?x?x24x64xf32>
  return %z : tensor<?x?x24x64xf32>
}

// -----

// A decay per key channel (gated linear attention), 4 heads in 2 groups.
// CHECK-LABEL: func.func @gla
func.func @gla(%x: tensor<2x?x4x8xf32>, %a: tensor<2x?x4x16xf32>, %k: tensor<2x?x2x16xf32>) -> tensor<2x?x4x8xf32> {
  // CHECK: motif.ssd {{.*}} : (tensor<2x?x4x8xf32>, tensor<2x?x4x16xf32>, tensor<2x?x2x16xf32>, tensor<2x?x2x16xf32>) -> tensor<2x?x4x8xf32>
  // expected-remark @+1 {{inferred 'tensor<2x?x4x8xf32>'}}
  %y = motif.ssd %x, %a, %k, %k : (tensor<2x?x4x8xf32>, tensor<2x?x4x16xf32>, tensor<2x?x2x16xf32>, tensor<2x?x2x16xf32>) -> tensor<2x?x4x8xf32>
  return %y : tensor<2x?x4x8xf32>
}

// -----

// The step form: one token, the state [B, H, P, N] in and out.
// CHECK-LABEL: func.func @step
func.func @step(%x: tensor<?x4x8xf32>, %a: tensor<?x4xf32>, %B: tensor<?x1x16xf32>, %h: tensor<?x4x8x16xf32>) -> (tensor<?x4x8xf32>, tensor<?x4x8x16xf32>) {
  // CHECK: motif.ssd_step {{.*}} state %{{.*}} : {{.*}} -> (tensor<?x4x8xf32>, tensor<?x4x8x16xf32>)
  // expected-remark @+1 {{inferred 'tensor<?x4x8xf32>', 'tensor<?x4x8x16xf32>'}}
  %y, %h1 = motif.ssd_step %x, %a, %B, %B state %h : (tensor<?x4x8xf32>, tensor<?x4xf32>, tensor<?x1x16xf32>, tensor<?x1x16xf32>, tensor<?x4x8x16xf32>) -> (tensor<?x4x8xf32>, tensor<?x4x8x16xf32>)
  return %y, %h1 : tensor<?x4x8xf32>, tensor<?x4x8x16xf32>
}
