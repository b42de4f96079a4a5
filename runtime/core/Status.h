//===- Status.h - Errors as values for the Motif runtime -------*- C++ -*-===//
//
// The runtime never exits or throws across its API: every fallible call
// returns a Status (or StatusOr<T>) whose message names what failed and where.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CORE_STATUS_H
#define MOTIF_RUNTIME_CORE_STATUS_H

#include <optional>
#include <string>
#include <utility>

namespace motif::rt {

class Status {
public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(std::string message) {
    Status s;
    s.message_ = std::move(message);
    s.failed_ = true;
    return s;
  }
  bool isOk() const { return !failed_; }
  explicit operator bool() const { return isOk(); }
  const std::string &message() const { return message_; }
  /// Prefixes the message with the context in which the failure happened.
  Status &withContext(const std::string &context);

private:
  std::string message_;
  bool failed_ = false;
};

template <typename T> class StatusOr {
public:
  StatusOr(T value) : value_(std::move(value)) {}
  StatusOr(Status status) : status_(std::move(status)) {}
  bool isOk() const { return status_.isOk() && value_.has_value(); }
  const Status &status() const { return status_; }
  T &operator*() { return *value_; }
  T *operator->() { return &*value_; }

private:
  Status status_;
  std::optional<T> value_;
};

} // namespace motif::rt

#endif // MOTIF_RUNTIME_CORE_STATUS_H
