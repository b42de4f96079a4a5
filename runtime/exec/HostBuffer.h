//===- HostBuffer.h - A host tensor's float data: owned or an arena slice -*- C++ -*-===//
//
// The storage of a host tensor's float data (Tensor::f, Tensor::d). It has
// the part of std::vector's interface the runtime uses (data, size, [],
// iteration, resize, assign, ...) and either owns its elements (in a
// std::vector, zero-filled as before) or views a slice of the executor's
// arena (Executor::output): the fast backend's activations live at the
// memory plan's offsets, allocated once per shape, without a fill.
//
// A copy always owns its elements (a value copied out of the executor, a
// decode state, must not alias memory a later step reuses); a move keeps the
// view. Growing a view past its slice, or any call that needs a real vector
// (vec()), first copies it into owned memory.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_EXEC_HOSTBUFFER_H
#define MOTIF_RUNTIME_EXEC_HOSTBUFFER_H

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <utility>
#include <vector>

namespace motif::rt {

template <typename T> class HostBuffer {
public:
  using value_type = T;
  using size_type = size_t;
  using iterator = T *;
  using const_iterator = const T *;

  HostBuffer() = default;
  explicit HostBuffer(size_t n, T fill = T()) : own_(n, fill) { sync(); }
  HostBuffer(std::initializer_list<T> xs) : own_(xs) { sync(); }
  HostBuffer(const std::vector<T> &v) : own_(v) { sync(); }
  HostBuffer(std::vector<T> &&v) : own_(std::move(v)) { sync(); }
  template <typename It> HostBuffer(It first, It last) : own_(first, last) { sync(); }
  HostBuffer(const HostBuffer &o) : own_(o.begin(), o.end()) { sync(); }
  HostBuffer(HostBuffer &&o) noexcept { take(std::move(o)); }
  HostBuffer &operator=(const HostBuffer &o) {
    if (this != &o) {
      std::vector<T> copy(o.begin(), o.end());
      own_ = std::move(copy);
      view_ = false;
      sync();
    }
    return *this;
  }
  HostBuffer &operator=(HostBuffer &&o) noexcept {
    if (this != &o)
      take(std::move(o));
    return *this;
  }
  HostBuffer &operator=(const std::vector<T> &v) { return *this = HostBuffer(v); }
  HostBuffer &operator=(std::vector<T> &&v) { return *this = HostBuffer(std::move(v)); }
  HostBuffer &operator=(std::initializer_list<T> xs) { return *this = HostBuffer(xs); }

  /// A view of `n` elements at `p`, of a slice of `capacity` elements that
  /// the caller keeps alive; the elements are not initialized.
  static HostBuffer view(T *p, size_t n, size_t capacity) {
    HostBuffer b;
    b.view_ = true;
    b.p_ = p;
    b.n_ = n;
    b.cap_ = capacity;
    return b;
  }
  /// Whether the elements are an arena slice rather than owned.
  bool isView() const { return view_; }
  /// The elements as a std::vector (a view is copied into owned memory first).
  std::vector<T> &vec() {
    own();
    return own_;
  }
  /// Makes a view own a copy of its elements.
  void own() {
    if (!view_)
      return;
    std::vector<T> copy(p_, p_ + n_);
    own_ = std::move(copy);
    view_ = false;
    sync();
  }

  T *data() { return p_; }
  const T *data() const { return p_; }
  size_t size() const { return n_; }
  size_t capacity() const { return view_ ? cap_ : own_.capacity(); }
  bool empty() const { return n_ == 0; }
  T &operator[](size_t k) { return p_[k]; }
  const T &operator[](size_t k) const { return p_[k]; }
  T &front() { return p_[0]; }
  const T &front() const { return p_[0]; }
  T &back() { return p_[n_ - 1]; }
  const T &back() const { return p_[n_ - 1]; }
  T *begin() { return p_; }
  T *end() { return p_ + n_; }
  const T *begin() const { return p_; }
  const T *end() const { return p_ + n_; }
  const T *cbegin() const { return p_; }
  const T *cend() const { return p_ + n_; }

  void resize(size_t n, T fill = T()) {
    if (view_ && n <= cap_) {
      std::fill(p_ + std::min(n, n_), p_ + n, fill);
      n_ = n;
      return;
    }
    own();
    own_.resize(n, fill);
    sync();
  }
  void assign(size_t n, T fill) {
    if (view_ && n <= cap_) {
      std::fill(p_, p_ + n, fill);
      n_ = n;
      return;
    }
    view_ = false;
    own_.assign(n, fill);
    sync();
  }
  template <typename It, typename = decltype(*std::declval<It>())> void assign(It first, It last) {
    std::vector<T> copy(first, last);
    own_ = std::move(copy);
    view_ = false;
    sync();
  }
  void push_back(T x) {
    own();
    own_.push_back(x);
    sync();
  }
  void reserve(size_t n) {
    own();
    own_.reserve(n);
    sync();
  }
  void clear() {
    if (view_)
      n_ = 0;
    else {
      own_.clear();
      sync();
    }
  }
  /// Drops the elements and their memory (a view forgets its slice).
  void reset() {
    std::vector<T>().swap(own_);
    view_ = false;
    sync();
  }
  void swap(HostBuffer &o) noexcept {
    HostBuffer t(std::move(o));
    o = std::move(*this);
    *this = std::move(t);
  }

  friend bool operator==(const HostBuffer &a, const HostBuffer &b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  friend bool operator==(const HostBuffer &a, const std::vector<T> &b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  friend bool operator!=(const HostBuffer &a, const HostBuffer &b) { return !(a == b); }
  friend bool operator!=(const HostBuffer &a, const std::vector<T> &b) { return !(a == b); }
  /// A copy as a std::vector, for the code that takes one.
  operator std::vector<T>() const { return std::vector<T>(begin(), end()); }

private:
  void sync() {
    p_ = own_.data();
    n_ = own_.size();
    cap_ = 0;
  }
  void take(HostBuffer &&o) {
    view_ = o.view_;
    if (view_) {
      std::vector<T>().swap(own_);
      p_ = o.p_, n_ = o.n_, cap_ = o.cap_;
    } else {
      own_ = std::move(o.own_);
      sync();
    }
    o.reset();
  }

  std::vector<T> own_;
  T *p_ = nullptr;
  size_t n_ = 0;
  size_t cap_ = 0; // a view's slice, in elements
  bool view_ = false;
};

} // namespace motif::rt

#endif // MOTIF_RUNTIME_EXEC_HOSTBUFFER_H
