//===- MotifDialect.h - The motif dialect ------------------------*- C++ -*-===//
#ifndef MOTIF_DIALECTS_MOTIF_MOTIFDIALECT_H
#define MOTIF_DIALECTS_MOTIF_MOTIFDIALECT_H

#include "mlir/IR/Dialect.h"

#include "dialects/motif/MotifDialect.h.inc"

#endif // MOTIF_DIALECTS_MOTIF_MOTIFDIALECT_H
