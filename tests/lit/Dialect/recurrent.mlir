// RUN: motif-opt %s -split-input-file | motif-opt -split-input-file | FileCheck %s --enable-var-scope
// RUN: motif-opt %s -split-input-file --mlir-print-op-generic | motif-opt -split-input-file | FileCheck %s --enable-var-scope
// motif.recurrent, its step form and its backward round-trip.

// CHECK-LABEL: func.func @rnn
// CHECK: %[[HS:.+]] = motif.recurrent %{{.+}} {state = 8 : i64} : (tensor<?x?x4xf32>) -> tensor<?x?x8xf32> cell {
// CHECK: ^bb0(%[[XT:.+]]: tensor<?x4xf32>, %[[S:.+]]: tensor<?x8xf32>):
// CHECK: motif.tanh
// CHECK: motif.yield %{{.+}} : tensor<?x8xf32>
func.func @rnn(%x: tensor<?x?x4xf32>) -> tensor<?x?x8xf32> {
  %hs = motif.recurrent %x {state = 8 : i64} : (tensor<?x?x4xf32>) -> tensor<?x?x8xf32> cell {
  ^bb0(%xt: tensor<?x4xf32>, %s: tensor<?x8xf32>):
    %t = motif.tanh %s : tensor<?x8xf32>
    motif.yield %t : tensor<?x8xf32>
  }
  return %hs : tensor<?x?x8xf32>
}

// -----

// CHECK-LABEL: func.func @rnn_init
// CHECK: motif.recurrent %{{.+}} init %{{.+}} {state = 8 : i64} : (tensor<2x?x4xf32>, tensor<2x8xf32>) -> tensor<2x?x8xf32> cell
func.func @rnn_init(%x: tensor<2x?x4xf32>, %h0: tensor<2x8xf32>) -> tensor<2x?x8xf32> {
  %hs = motif.recurrent %x init %h0 {state = 8 : i64} : (tensor<2x?x4xf32>, tensor<2x8xf32>) -> tensor<2x?x8xf32> cell {
  ^bb0(%xt: tensor<?x4xf32>, %s: tensor<?x8xf32>):
    motif.yield %s : tensor<?x8xf32>
  }
  return %hs : tensor<2x?x8xf32>
}

// -----

// CHECK-LABEL: func.func @step
// CHECK: motif.recurrent_step %{{.+}}, %{{.+}} : (tensor<?x4xf32>, tensor<?x8xf32>) -> tensor<?x8xf32> cell
func.func @step(%x: tensor<?x4xf32>, %h: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %h1 = motif.recurrent_step %x, %h : (tensor<?x4xf32>, tensor<?x8xf32>) -> tensor<?x8xf32> cell {
  ^bb0(%xt: tensor<?x4xf32>, %s: tensor<?x8xf32>):
    %t = motif.tanh %s : tensor<?x8xf32>
    motif.yield %t : tensor<?x8xf32>
  }
  return %h1 : tensor<?x8xf32>
}
