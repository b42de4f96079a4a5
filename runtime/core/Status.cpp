//===- Status.cpp - Errors as values for the Motif runtime -----------------===//
#include "runtime/core/Status.h"

using namespace motif::rt;

Status &Status::withContext(const std::string &context) {
  if (failed_)
    message_ = context + ": " + message_;
  return *this;
}
