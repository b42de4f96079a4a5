//===- MotifDialect.cpp - The motif dialect and its attributes -------------===//
#include "dialects/motif/MotifDialect.h"
#include "dialects/motif/MotifOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"

#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::motif;

#include "dialects/motif/MotifDialect.cpp.inc"
#include "dialects/motif/MotifEnums.cpp.inc"
#include "dialects/motif/MotifInterfaces.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/motif/MotifAttrs.cpp.inc"

void MotifDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/motif/MotifOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/motif/MotifAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// #motif.init<kind, field = value, ...>
//===----------------------------------------------------------------------===//

Attribute InitAttr::parse(AsmParser &p, Type) {
  std::string kindName;
  if (p.parseLess() || p.parseKeywordOrString(&kindName))
    return {};
  std::optional<InitKind> kind = symbolizeInitKind(kindName);
  if (!kind) {
    p.emitError(p.getCurrentLocation(), "unknown init kind '") << kindName << "'";
    return {};
  }
  double mean = 0, std = 0, low = 0, high = 0, value = 0;
  int64_t depth = 0;
  while (succeeded(p.parseOptionalComma())) {
    std::string key;
    if (p.parseKeywordOrString(&key) || p.parseEqual())
      return {};
    if (key == "depth_scaled") {
      if (p.parseInteger(depth))
        return {};
      continue;
    }
    double v;
    if (p.parseFloat(v))
      return {};
    if (key == "mean")
      mean = v;
    else if (key == "std")
      std = v;
    else if (key == "low")
      low = v;
    else if (key == "high")
      high = v;
    else if (key == "value")
      value = v;
    else {
      p.emitError(p.getCurrentLocation(), "unknown init field '") << key << "'";
      return {};
    }
  }
  if (p.parseGreater())
    return {};
  return InitAttr::get(p.getContext(), *kind, mean, std, low, high, value, depth);
}

void InitAttr::print(AsmPrinter &p) const {
  p << "<" << stringifyInitKind(getKind());
  auto field = [&](const char *name, const llvm::APFloat &f) {
    double v = f.convertToDouble();
    if (v != 0)
      p << ", " << name << " = " << llvm::formatv("{0:e}", v).str();
  };
  field("mean", getMean());
  field("std", getStd());
  field("low", getLow());
  field("high", getHigh());
  field("value", getValue());
  if (getDepthScaled())
    p << ", depth_scaled = " << getDepthScaled();
  p << ">";
}
