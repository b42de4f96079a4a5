//===- HostCompile.cpp - The host kernels to a shared library --------------===//
//
// The path of MLIR-based compilers to CPU code: the math functions become
// polynomials (MLIR's approximations, so the kernels call no libm), every
// dialect lowers to the LLVM dialect, which translates to LLVM IR; LLVM's O3
// pipeline and code generator for the level's CPU make an object, which
// ld.lld links into a shared library.
//
//===----------------------------------------------------------------------===//
#include "compiler/Target/HostCompile.h"
#include "compiler/Target/HostEmitter.h"
#include "runtime/core/DiskCache.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVMPass.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/PassTimingInfo.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/TargetParser/Triple.h"

#include <mutex>

using namespace mlir;

namespace {

constexpr const char *kTriple = "x86_64-unknown-linux-gnu";

/// floor(x) without SSE4.1's roundps (the x86-64 baseline), where LLVM would
/// call libm's floorf per lane: truncate through i32, step down where that
/// rounded up; |x| >= 2^23 (and NaN) is already integral and passes through.
struct FloorWithoutRound final : OpRewritePattern<math::FloorOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::FloorOp op, PatternRewriter &rw) const override {
    auto t = llvm::dyn_cast<VectorType>(op.getType());
    if (!t || !t.getElementType().isF32())
      return rw.notifyMatchFailure(op, "not a vector of f32");
    Location loc = op.getLoc();
    Value x = op.getOperand();
    auto splat = [&](float v) {
      return arith::ConstantOp::create(rw, loc,
                                       DenseElementsAttr::get(t, rw.getF32FloatAttr(v).getValue()));
    };
    Value i = arith::FPToSIOp::create(rw, loc, t.clone(rw.getI32Type()), x);
    Value trunc = arith::SIToFPOp::create(rw, loc, t, i);
    Value up = arith::CmpFOp::create(rw, loc, arith::CmpFPredicate::OGT, trunc, x);
    Value down = arith::SelectOp::create(rw, loc, up,
                                         arith::SubFOp::create(rw, loc, trunc, splat(1.f)), trunc);
    Value small = arith::CmpFOp::create(rw, loc, arith::CmpFPredicate::OLT,
                                        math::AbsFOp::create(rw, loc, x), splat(8388608.f));
    rw.replaceOpWithNewOp<arith::SelectOp>(op, small, down, x);
    return success();
  }
};

/// Steps 1 and 2: polynomials for the math functions, then the LLVM dialect.
LogicalResult lowerToLLVMDialect(ModuleOp m, bool fma, bool round, std::string &why) {
  MLIRContext *ctx = m.getContext();
  {
    RewritePatternSet patterns(ctx);
    populateMathPolynomialApproximationPatterns(patterns);
    if (failed(applyPatternsGreedily(m, std::move(patterns)))) {
      why = "the math approximations did not converge";
      return failure();
    }
  }
  if (!fma || !round) {
    // Without FMA (or SSE4.1's rounding) in hardware, llvm.fma (llvm.floor)
    // would become a libm call per lane.
    RewritePatternSet patterns(ctx);
    if (!fma)
      math::populateExpansionPatterns(patterns, {"fma"});
    if (!round)
      patterns.add<FloorWithoutRound>(ctx);
    if (failed(applyPatternsGreedily(m, std::move(patterns)))) {
      why = "the fma and floor expansions did not converge";
      return failure();
    }
  }
  PassManager pm(ctx);
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createUBToLLVMConversionPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  if (failed(pm.run(m))) {
    why = "lowering the host kernels to the LLVM dialect failed";
    return failure();
  }
  return success();
}

/// The level of `kernels` and a copy of it in the LLVM dialect.
FailureOr<std::pair<::motif::HostCpu, OwningOpRef<ModuleOp>>> lowered(ModuleOp kernels,
                                                                      std::string &why) {
  auto level = kernels->getAttrOfType<StringAttr>("kernel.host_cpu");
  auto cpu = level ? ::motif::resolveHostCpu(level.getValue()) : std::nullopt;
  if (!cpu) {
    why = "a host kernel module has no known kernel.host_cpu level";
    return failure();
  }
  OwningOpRef<ModuleOp> m = kernels.clone();
  (*m)->removeAttr("sym_name");
  if (failed(lowerToLLVMDialect(*m, cpu->fma, cpu->name != "x86-64", why)))
    return failure();
  return std::make_pair(*cpu, std::move(m));
}

/// Step 3: LLVM IR for the level's CPU.
std::unique_ptr<llvm::Module> translate(ModuleOp m, const ::motif::HostCpu &cpu,
                                        llvm::TargetMachine *tm, llvm::LLVMContext &llvmCtx,
                                        std::string &why) {
  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  m.getContext()->appendDialectRegistry(registry);
  std::unique_ptr<llvm::Module> mod = translateModuleToLLVMIR(m, llvmCtx, "motif_host_kernels");
  if (!mod) {
    why = "translating the host kernels to LLVM IR failed";
    return nullptr;
  }
  if (tm) {
    mod->setTargetTriple(tm->getTargetTriple());
    mod->setDataLayout(tm->createDataLayout());
  }
  // The vectors are as wide as the level's registers: keep them that wide
  // (x86 may otherwise split 512-bit vectors in two).
  for (llvm::Function &f : *mod)
    if (!f.isDeclaration()) {
      f.addFnAttr("min-legal-vector-width", std::to_string(cpu.vectorWidth * 32));
      f.addFnAttr("target-cpu", cpu.name);
    }
  return mod;
}

/// The target machine of `cpu` (x86-64 Linux, position-independent).
std::unique_ptr<llvm::TargetMachine> targetMachine(const ::motif::HostCpu &cpu,
                                                   std::string &why) {
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeX86TargetInfo();
    LLVMInitializeX86Target();
    LLVMInitializeX86TargetMC();
    LLVMInitializeX86AsmPrinter();
  });
  llvm::Triple triple(kTriple);
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target) {
    why = "LLVM has no x86-64 target: " + error;
    return nullptr;
  }
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      triple, cpu.name, "", options, llvm::Reloc::PIC_, llvm::CodeModel::Small,
      llvm::CodeGenOptLevel::Aggressive));
  if (!tm)
    why = "LLVM cannot make a target machine for " + cpu.name;
  return tm;
}

/// Step 4: LLVM's O3 pipeline, as clang -O3 runs it.
void optimize(llvm::Module &mod, llvm::TargetMachine *tm) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(tm);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(mod, mam);
}

/// The linker: the ld.lld of LLVM's tools, else the first on PATH.
std::string findLinker() {
#ifdef MOTIF_LLD_PATH
  if (llvm::sys::fs::can_execute(MOTIF_LLD_PATH))
    return MOTIF_LLD_PATH;
#endif
  if (auto p = llvm::sys::findProgramByName("ld.lld"))
    return *p;
  return "";
}

/// Step 5: an object, linked into a shared library.
LogicalResult emitSharedLibrary(llvm::Module &mod, llvm::TargetMachine *tm, std::string &image,
                                std::string &why) {
  llvm::SmallString<0> object;
  {
    llvm::raw_svector_ostream os(object);
    llvm::legacy::PassManager pm;
    if (tm->addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::ObjectFile)) {
      why = "LLVM cannot emit an object file for " + tm->getTargetCPU().str();
      return failure();
    }
    pm.run(mod);
  }
  std::string lld = findLinker();
  if (lld.empty()) {
    why = "ld.lld not found (install lld, or compile with --no-native-cpu)";
    return failure();
  }
  llvm::SmallString<128> obj, so;
  int fd;
  if (llvm::sys::fs::createTemporaryFile("motif-host", "o", fd, obj) ||
      llvm::sys::fs::createTemporaryFile("motif-host", "so", so)) {
    why = "cannot create a temporary file for the host kernels";
    return failure();
  }
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << object;
  }
  std::string err;
  llvm::SmallVector<llvm::StringRef> args = {lld,          "-shared",      "-z",   "noexecstack",
                                             "--hash-style=both", "-o", so, obj};
  int rc = llvm::sys::ExecuteAndWait(lld, args, std::nullopt, {}, 0, 0, &err);
  auto buf = llvm::MemoryBuffer::getFile(so);
  llvm::sys::fs::remove(obj);
  llvm::sys::fs::remove(so);
  if (rc != 0 || !buf) {
    why = "linking the host kernels with " + lld + " failed" + (err.empty() ? "" : ": " + err);
    return failure();
  }
  image = (*buf)->getBuffer().str();
  return success();
}

} // namespace

LogicalResult(::motif::compileHostKernels)(ModuleOp kernels, std::string &image,
                                           std::string &why) {
  // The cache (runtime/core/DiskCache.h's conventions, as NVRTC's): keyed by
  // the kernels' MLIR, the level, LLVM's version and the linker.
  std::string keyText;
  {
    llvm::raw_string_ostream os(keyText);
    kernels.print(os);
    os << '\0' << "host-kernels-2 O3 " << LLVM_VERSION_STRING << '\0' << findLinker();
  }
  std::string dir = ::motif::rt::cacheDir();
  std::string path = dir.empty() ? "" : dir + "/host/" + ::motif::rt::cacheKey(keyText) + ".so";
  if (!path.empty() && ::motif::rt::readFile(path, image))
    return success();
  // --time-passes times this as one stage of motif-compile: keep LLVM's own
  // per-pass timers (the same flag) quiet.
  bool timing = llvm::TimePassesIsEnabled;
  llvm::TimePassesIsEnabled = false;
  llvm::scope_exit restore([&] { llvm::TimePassesIsEnabled = timing; });
  auto l = lowered(kernels, why);
  if (failed(l))
    return failure();
  auto &[cpu, m] = *l;
  std::unique_ptr<llvm::TargetMachine> tm = targetMachine(cpu, why);
  if (!tm)
    return failure();
  llvm::LLVMContext llvmCtx;
  std::unique_ptr<llvm::Module> mod = translate(*m, cpu, tm.get(), llvmCtx, why);
  if (!mod)
    return failure();
  optimize(*mod, tm.get());
  if (failed(emitSharedLibrary(*mod, tm.get(), image, why)))
    return failure();
  if (!path.empty()) {
    ::motif::rt::makeDirs(dir + "/host");
    ::motif::rt::writeFileAtomically(path, image);
  }
  return success();
}

LogicalResult(::motif::hostKernelsLLVMIR)(ModuleOp kernels, std::string &ir, std::string &why) {
  auto l = lowered(kernels, why);
  if (failed(l))
    return failure();
  auto &[cpu, m] = *l;
  std::unique_ptr<llvm::TargetMachine> tm = targetMachine(cpu, why);
  llvm::LLVMContext llvmCtx;
  std::unique_ptr<llvm::Module> mod = translate(*m, cpu, tm.get(), llvmCtx, why);
  if (!mod)
    return failure();
  llvm::raw_string_ostream os(ir);
  mod->print(os, nullptr);
  return success();
}
