// RUN: motif-opt %s --split-input-file --kernel-emit-host="cpus=x86-64-v3" | FileCheck %s --check-prefixes=CHECK,AVX2
// RUN: motif-opt %s --split-input-file --kernel-emit-host="cpus=x86-64-v4,x86-64" | FileCheck %s --check-prefixes=CHECK,AVX512
// RUN: not motif-opt %s --split-input-file --kernel-emit-host="cpus=pentium" 2>&1 | FileCheck %s --check-prefix=BAD
// Host emission is a pass: each distinct fused op becomes one vectorized
// function per x86-64 level (its vector width from the level: 8 fp32 lanes
// for AVX2, 16 for AVX-512, 4 for the baseline), and the op names it
// (kernel.native) with how it reads its inputs (0 same shape, 1 trailing
// dims, 2 scalar).

// BAD: unknown CPU level 'pentium' (expected native, x86-64, x86-64-v2, x86-64-v3, x86-64-v4)

// CHECK-LABEL: func.func @f
// CHECK: kernel.fused
// CHECK-SAME: kernel.native = "motif_cpu_0", kernel.native_bcast = array<i64: 0, 1, 2>
// The same computation again gets the same function:
// CHECK: kernel.fused
// CHECK-SAME: kernel.native = "motif_cpu_0"
// A bf16 result has none (it runs interpreted):
// CHECK: kernel.fused
// CHECK-NOT: kernel.native
// CHECK-SAME: -> tensor<?x13xbf16>

// AVX2: module @host_x86_64_v3 attributes {kernel.host_cpu = "x86-64-v3", kernel.vector_width = 8 : i64}
// AVX512: module @host_x86_64_v4 attributes {kernel.host_cpu = "x86-64-v4", kernel.vector_width = 16 : i64}
// CHECK: func.func @motif_cpu_0(%[[INS:.+]]: !llvm.ptr, %[[OUTS:.+]]: !llvm.ptr, %[[BEGIN:.+]]: i64, %[[END:.+]]: i64, %[[MODS:.+]]: !llvm.ptr)
// The scalar is read once, before the loops:
// CHECK: %[[S:.+]] = memref.load %{{.+}}[%{{.+}}] : memref<?xf32>
// Full vector steps:
// AVX2: scf.for %[[I:.+]] = %{{.+}} to %{{.+}} step %c8
// AVX512: scf.for %[[I:.+]] = %{{.+}} to %{{.+}} step %c16
// AVX2: vector.load %{{.+}}[%[[I]]] : memref<?xf32>, vector<8xf32>
// AVX512: vector.load %{{.+}}[%[[I]]] : memref<?xf32>, vector<16xf32>
// The bias at i mod 13: a load where the lanes do not wrap, else a gather.
// CHECK: %[[J:.+]] = arith.remui %[[I]]
// CHECK: scf.if
// CHECK: vector.load %{{.+}}[%[[J]]]
// CHECK: } else {
// CHECK: vector.gather
// CHECK: vector.broadcast %[[S]]
// CHECK: arith.addf
// gelu: x/2 (1 + erf(x / sqrt 2)), approximated by a polynomial when lowered
// CHECK: math.erf
// CHECK: arith.mulf
// CHECK: vector.store
// CHECK: vector.store
// The remainder, one lane at a time:
// CHECK: scf.for %{{.+}} step %c1
// CHECK: vector<1xf32>
// AVX512: module @host_x86_64 attributes {kernel.host_cpu = "x86-64", kernel.vector_width = 4 : i64}
// AVX512: vector<4xf32>
module {
  func.func @f(%x: tensor<?x13xf32>, %b: tensor<13xf32>, %s: tensor<f32>, %i: tensor<?x13xf32>) -> (tensor<?x13xf32>, tensor<?x13xf32>, tensor<?x13xf32>, tensor<?x13xbf16>) {
    %y:2 = kernel.fused (%x, %b, %s) : (tensor<?x13xf32>, tensor<13xf32>, tensor<f32>) -> (tensor<?x13xf32>, tensor<?x13xf32>) {
    ^bb0(%a: tensor<?x13xf32>, %c: tensor<13xf32>, %d: tensor<f32>):
      %t = motif.add %a, %c : (tensor<?x13xf32>, tensor<13xf32>) -> tensor<?x13xf32>
      %g = motif.gelu %t : tensor<?x13xf32>
      %m = motif.mul %g, %d : (tensor<?x13xf32>, tensor<f32>) -> tensor<?x13xf32>
      kernel.yield %m, %t : tensor<?x13xf32>, tensor<?x13xf32>
    }
    %z:2 = kernel.fused (%i, %b, %s) : (tensor<?x13xf32>, tensor<13xf32>, tensor<f32>) -> (tensor<?x13xf32>, tensor<?x13xf32>) {
    ^bb0(%a: tensor<?x13xf32>, %c: tensor<13xf32>, %d: tensor<f32>):
      %t = motif.add %a, %c : (tensor<?x13xf32>, tensor<13xf32>) -> tensor<?x13xf32>
      %g = motif.gelu %t : tensor<?x13xf32>
      %m = motif.mul %g, %d : (tensor<?x13xf32>, tensor<f32>) -> tensor<?x13xf32>
      kernel.yield %m, %t : tensor<?x13xf32>, tensor<?x13xf32>
    }
    %j = kernel.fused (%i) : (tensor<?x13xf32>) -> tensor<?x13xbf16> {
    ^bb0(%a: tensor<?x13xf32>):
      %n = motif.cast %a : tensor<?x13xf32> -> tensor<?x13xbf16>
      kernel.yield %n : tensor<?x13xbf16>
    }
    return %y#0, %y#1, %z#0, %j : tensor<?x13xf32>, tensor<?x13xf32>, tensor<?x13xf32>, tensor<?x13xbf16>
  }
}

// -----

// Every elementwise op of runtime/core/Elementwise.def, as arith and math
// ops on vectors (ElementwiseMath.h's formulas).
// CHECK-LABEL: func.func @all_ops
// CHECK: kernel.native = "motif_cpu_0"
// CHECK: func.func @motif_cpu_0
// relu: x > 0 ? x : 0
// CHECK: arith.cmpf ogt
// CHECK: arith.select
// gelu_tanh
// CHECK: math.tanh
// silu and sigmoid: exp(-|x|), no overflow either way
// CHECK: math.absf
// CHECK: arith.negf
// CHECK: math.exp
// softplus: max(x, 0) + log1p(exp(-|x|)), x above 20
// CHECK: math.log1p
// CHECK: arith.cmpf ogt
// CHECK: math.log
// CHECK: math.sqrt
// rsqrt: 1 / sqrt(x)
// CHECK: math.sqrt
// CHECK: arith.divf
// CHECK: math.sin
// CHECK: math.cos
// maximum: a >= b ? a : b
// CHECK: arith.cmpf oge
// CHECK: arith.select
// CHECK: arith.subf
// CHECK: arith.divf
module {
  func.func @all_ops(%x: tensor<?x8xf32>, %y: tensor<?x8xf32>) -> tensor<?x8xf32> {
    %r = kernel.fused (%x, %y) : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32> {
    ^bb0(%a: tensor<?x8xf32>, %b: tensor<?x8xf32>):
      %0 = motif.relu %a : tensor<?x8xf32>
      %1 = motif.gelu_tanh %0 : tensor<?x8xf32>
      %2 = motif.silu %1 : tensor<?x8xf32>
      %3 = motif.softplus %2 : tensor<?x8xf32>
      %4 = motif.log %3 : tensor<?x8xf32>
      %5 = motif.sqrt %4 : tensor<?x8xf32>
      %6 = motif.rsqrt %5 : tensor<?x8xf32>
      %7 = motif.sin %6 : tensor<?x8xf32>
      %8 = motif.cos %7 : tensor<?x8xf32>
      %9 = motif.maximum %8, %b : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
      %10 = motif.sub %9, %a : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
      %11 = motif.div %10, %b : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
      kernel.yield %11 : tensor<?x8xf32>
    }
    return %r : tensor<?x8xf32>
  }
}
