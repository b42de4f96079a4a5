// RUN: motif-opt %s --motif-autodiff | FileCheck %s
// Each motif.vjp says which forward values its backward reads the data of
// (`saved`: one entry per input, then per output). The others are passed for
// their shapes only, so memory planning frees them after the forward.

motif.param @w1 : tensor<16x8xf32> init #motif.init<normal, std = 2.000000e-02>
motif.param @g : tensor<16xf32> init #motif.init<ones> {no_decay}
motif.param @w2 : tensor<4x16xf32> init #motif.init<normal, std = 2.000000e-02>
func.func @forward(%x: tensor<?x8xf32>, %t: tensor<?xi32>) -> (tensor<f32> {motif.loss}) {
  %w1 = motif.get_param @w1 : tensor<16x8xf32>
  %h = motif.linear %x, %w1 : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32>
  %a = motif.gelu %h : tensor<?x16xf32>
  %s = motif.sigmoid %a : tensor<?x16xf32>
  %r = motif.add %a, %s : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  %g = motif.get_param @g : tensor<16xf32>
  %n = motif.rms_norm %r, %g : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  %p = motif.softmax %n : tensor<?x16xf32>
  %w2 = motif.get_param @w2 : tensor<4x16xf32>
  %y = motif.linear %p, %w2 : (tensor<?x16xf32>, tensor<4x16xf32>) -> tensor<?x4xf32>
  %l = motif.cross_entropy %y, %t : (tensor<?x4xf32>, tensor<?xi32>) -> tensor<f32>
  return %l : tensor<f32>
}

// CHECK-LABEL: func.func @train_step
// cross_entropy reads the logits and the targets, not the loss:
// CHECK: motif.vjp "motif.cross_entropy"{{.*}}saved = array<i1: true, true, false>
// linear reads x and w, not its output:
// CHECK: motif.vjp "motif.linear"{{.*}}saved = array<i1: true, true, false>
// softmax reads only its output:
// CHECK: motif.vjp "motif.softmax"{{.*}}saved = array<i1: false, true>
// rms_norm reads x and the weight:
// CHECK: motif.vjp "motif.rms_norm"{{.*}}saved = array<i1: true, true, false>
// add reads nothing but shapes:
// CHECK: motif.vjp "motif.add"{{.*}}saved = array<i1: false, false, false>
// sigmoid and gelu read their input:
// CHECK: motif.vjp "motif.sigmoid"{{.*}}saved = array<i1: true, false>
// CHECK: motif.vjp "motif.gelu"{{.*}}saved = array<i1: true, false>
// CHECK: motif.vjp "motif.linear"{{.*}}saved = array<i1: true, true, false>
