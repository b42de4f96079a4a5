// RUN: motif-opt %s -split-input-file -verify-diagnostics
// The verifier of motif.recurrent and motif.recurrent_step: types, the cell's
// signature, and a cell that reads a value from outside it.

func.func @f(%x: tensor<?x?x4xf32>) {
  // expected-error @+2 {{state must be positive, got 0}}
  // expected-error @+1 {{failed to infer returned types}}
  %hs = motif.recurrent %x {state = 0 : i64} : (tensor<?x?x4xf32>) -> tensor<?x?x0xf32> cell {
  ^bb0(%xt: tensor<?x4xf32>, %s: tensor<?x0xf32>):
    motif.yield %s : tensor<?x0xf32>
  }
  return
}

// -----

func.func @f(%x: tensor<?x?x4xf32>, %h0: tensor<?x6xf32>) {
  // expected-error @+2 {{initial state tensor<?x6xf32> must be [B, state] = [?, 8]}}
  // expected-error @+1 {{failed to infer returned types}}
  %hs = motif.recurrent %x init %h0 {state = 8 : i64} : (tensor<?x?x4xf32>, tensor<?x6xf32>) -> tensor<?x?x8xf32> cell {
  ^bb0(%xt: tensor<?x4xf32>, %s: tensor<?x8xf32>):
    motif.yield %s : tensor<?x8xf32>
  }
  return
}

// -----

func.func @f(%x: tensor<?x?x4xf32>) {
  // expected-error @+1 {{cell region must take arguments of types 'tensor<?x4xf32>' and 'tensor<?x8xf32>'}}
  %hs = motif.recurrent %x {state = 8 : i64} : (tensor<?x?x4xf32>) -> tensor<?x?x8xf32> cell {
  ^bb0(%s: tensor<?x8xf32>):
    motif.yield %s : tensor<?x8xf32>
  }
  return
}

// -----

func.func @f(%x: tensor<?x?x4xf32>) {
  // expected-error @+1 {{cell region must yield one value of type 'tensor<?x8xf32>'}}
  %hs = motif.recurrent %x {state = 8 : i64} : (tensor<?x?x4xf32>) -> tensor<?x?x8xf32> cell {
  ^bb0(%xt: tensor<?x4xf32>, %s: tensor<?x8xf32>):
    motif.yield %xt : tensor<?x4xf32>
  }
  return
}

// -----

func.func @f(%x: tensor<?x?x4xf32>, %c: tensor<?x8xf32>) {
  %hs = motif.recurrent %x {state = 8 : i64} : (tensor<?x?x4xf32>) -> tensor<?x?x8xf32> cell {
  ^bb0(%xt: tensor<?x4xf32>, %s: tensor<?x8xf32>):
    // expected-error @+1 {{in a recurrent cell reads a value defined outside the cell}}
    %y = motif.add %s, %c : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
    motif.yield %y : tensor<?x8xf32>
  }
  return
}

// -----

func.func @f(%x: tensor<?x4xf32>, %h: tensor<?x8xi32>) {
  // expected-error @+2 {{input and state element types differ}}
  // expected-error @+1 {{failed to infer returned types}}
  %h1 = motif.recurrent_step %x, %h : (tensor<?x4xf32>, tensor<?x8xi32>) -> tensor<?x8xi32> cell {
  ^bb0(%xt: tensor<?x4xf32>, %s: tensor<?x8xi32>):
    motif.yield %s : tensor<?x8xi32>
  }
  return
}

// -----

func.func @f(%x: tensor<?x?x4xi32>) {
  // expected-error @+2 {{the input must be a float tensor, got tensor<?x?x4xi32>}}
  // expected-error @+1 {{failed to infer returned types}}
  %hs = motif.recurrent %x {state = 4 : i64} : (tensor<?x?x4xi32>) -> tensor<?x?x4xi32> cell {
  ^bb0(%xt: tensor<?x4xi32>, %s: tensor<?x4xi32>):
    motif.yield %s : tensor<?x4xi32>
  }
  return
}
