// RUN: motif-opt %s -split-input-file --motif-autodiff | FileCheck %s
// The train step: @forward cloned, then one motif.vjp per op that leads from a
// trained parameter to the loss, in reverse order.

motif.param @w : tensor<4x8xf32> init #motif.init<normal, std = 2.000000e-02>
motif.param @b : tensor<4xf32> init #motif.init<zeros> {no_decay}
func.func @forward(%x: tensor<?x8xf32>, %t: tensor<?xi32>) -> (tensor<?x4xf32>, tensor<f32> {motif.loss}) {
  %w = motif.get_param @w : tensor<4x8xf32>
  %b = motif.get_param @b : tensor<4xf32>
  %y = motif.linear %x, %w, %b : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %l = motif.cross_entropy %y, %t : (tensor<?x4xf32>, tensor<?xi32>) -> tensor<f32>
  return %y, %l : tensor<?x4xf32>, tensor<f32>
}

// CHECK-LABEL: func.func @forward
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>, %[[T:.*]]: tensor<?xi32>) -> (tensor<f32> {motif.loss}, tensor<4x8xf32> {motif.grad = @w}, tensor<4xf32> {motif.grad = @b})
// CHECK: %[[Y:.*]] = motif.linear %[[X]]
// CHECK: %[[L:.*]] = motif.cross_entropy %[[Y]], %[[T]]
// The seed of the backward, marked where the backward begins:
// CHECK: %[[ONE:.*]] = motif.constant 1.000000e+00 {motif.backward_begins} : tensor<f32>
// The integer targets get no gradient:
// CHECK: %[[DY:.*]] = motif.vjp "motif.cross_entropy"(%[[Y]], %[[T]]) outputs(%[[L]]) grads(%[[ONE]]) {{.*}}needs = array<i1: true, false>
// The input is not trained, so only the weight and bias gradients are made:
// CHECK: %[[G:.*]]:2 = motif.vjp "motif.linear"(%[[X]], {{.*}}) outputs(%[[Y]]) grads(%[[DY]]) {{.*}}needs = array<i1: false, true, true>
// CHECK: return %[[L]], %[[G]]#0, %[[G]]#1

// -----

// A parameter read twice (tied weights) gets the sum of both gradients; a
// value used twice gets the sum of both uses.
motif.param @e : tensor<16x8xf32> init #motif.init<normal, std = 2.000000e-02>
func.func @forward(%ids: tensor<?x?xi32>) -> (tensor<f32> {motif.loss}) {
  %e = motif.get_param @e : tensor<16x8xf32>
  %h = motif.embedding %ids, %e : (tensor<?x?xi32>, tensor<16x8xf32>) -> tensor<?x?x8xf32>
  %r = motif.relu %h : tensor<?x?x8xf32>
  %s = motif.add %h, %r : (tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  %e2 = motif.get_param @e : tensor<16x8xf32>
  %logits = motif.linear %s, %e2 : (tensor<?x?x8xf32>, tensor<16x8xf32>) -> tensor<?x?x16xf32>
  %l = motif.cross_entropy %logits, %ids : (tensor<?x?x16xf32>, tensor<?x?xi32>) -> tensor<f32>
  return %l : tensor<f32>
}

// CHECK-LABEL: func.func @train_step
// CHECK: %[[H:.*]] = motif.embedding
// CHECK: %[[LIN:.*]]:2 = motif.vjp "motif.linear"
// CHECK: %[[ADD:.*]]:2 = motif.vjp "motif.add"
// CHECK: %[[RELU:.*]] = motif.vjp "motif.relu"(%[[H]]) outputs({{.*}}) grads(%[[ADD]]#1)
// CHECK: %[[DH:.*]] = motif.add %[[ADD]]#0, %[[RELU]]
// CHECK: %[[EMB:.*]] = motif.vjp "motif.embedding"({{.*}}) outputs(%[[H]]) grads(%[[DH]])
// CHECK: %[[DE:.*]] = motif.add %[[LIN]]#1, %[[EMB]]
// CHECK: return %{{.*}}, %[[DE]] : tensor<f32>, tensor<16x8xf32>

// -----

// Frozen buffers (batch-norm statistics) get no gradient; an output that does
// not lead to the loss gets no backward.
motif.param @w : tensor<3xf32> init #motif.init<ones> {no_decay}
motif.param @b : tensor<3xf32> init #motif.init<zeros> {no_decay}
motif.param @mean : tensor<3xf32> init #motif.init<zeros> {frozen, no_decay}
motif.param @var : tensor<3xf32> init #motif.init<ones> {frozen, no_decay}
func.func @forward(%x: tensor<?x3x4x4xf32>, %t: tensor<?xi32>) -> (tensor<?x3x4x4xf32>, tensor<f32> {motif.loss}) {
  %w = motif.get_param @w : tensor<3xf32>
  %b = motif.get_param @b : tensor<3xf32>
  %m = motif.get_param @mean : tensor<3xf32>
  %v = motif.get_param @var : tensor<3xf32>
  %y = motif.batch_norm %x, %w, %b, %m, %v : (tensor<?x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<?x3x4x4xf32>
  %side = motif.exp %y : tensor<?x3x4x4xf32>
  %p = motif.reduce %y {kind = #motif<reduce mean>, axes = array<i64: 2, 3>} : (tensor<?x3x4x4xf32>) -> tensor<?x3xf32>
  %l = motif.cross_entropy %p, %t : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
  return %side, %l : tensor<?x3x4x4xf32>, tensor<f32>
}

// CHECK-LABEL: func.func @train_step
// CHECK-SAME: -> (tensor<f32> {motif.loss}, tensor<3xf32> {motif.grad = @w}, tensor<3xf32> {motif.grad = @b})
// CHECK-NOT: motif.vjp "motif.exp"
// CHECK: motif.vjp "motif.reduce"
// CHECK: motif.vjp "motif.batch_norm"{{.*}}needs = array<i1: false, true, true, false, false>

// -----

// Positions of an activation are integers: the int path (positions, its
// arithmetic, the cast to float, the bias made from it) gets no backward op,
// and the attention's bias operand is not asked for a gradient (issue 14:
// the backward built along it crashed the CPU backend).
motif.param @e : tensor<16x8xf32> init #motif.init<normal, std = 2.000000e-02>
func.func @forward(%ids: tensor<?x?xi32>) -> (tensor<f32> {motif.loss}) {
  %e = motif.get_param @e : tensor<16x8xf32>
  %x = motif.embedding %ids, %e : (tensor<?x?xi32>, tensor<16x8xf32>) -> tensor<?x?x8xf32>
  %p = motif.positions %x : tensor<?x?x8xf32> -> tensor<?xi32>
  %two = motif.mul %p, %p : (tensor<?xi32>, tensor<?xi32>) -> tensor<?xi32>
  %f = motif.cast %two : tensor<?xi32> -> tensor<?xf32>
  %y = motif.add %x, %f : (tensor<?x?x8xf32>, tensor<?xf32>) -> tensor<?x?x8xf32>
  %e2 = motif.get_param @e : tensor<16x8xf32>
  %logits = motif.linear %y, %e2 : (tensor<?x?x8xf32>, tensor<16x8xf32>) -> tensor<?x?x16xf32>
  %l = motif.cross_entropy %logits, %ids : (tensor<?x?x16xf32>, tensor<?x?xi32>) -> tensor<f32>
  return %l : tensor<f32>
}

// CHECK-LABEL: func.func @train_step
// CHECK: motif.vjp "motif.add"({{.*}}) {{.*}}needs = array<i1: true, false>
// CHECK-NOT: motif.vjp "motif.cast"
// CHECK-NOT: motif.vjp "motif.mul"
// CHECK-NOT: motif.vjp "motif.positions"
// CHECK: motif.vjp "motif.embedding"
