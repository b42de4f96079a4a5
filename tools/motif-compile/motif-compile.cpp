//===- motif-compile.cpp - The Motif compiler driver -----------------------===//
//
// motif-compile model.motif [--emit=ast|motif|autodiff|kernel|cuda|host-llvm|plan] [--report]
//               [-D k=v]... [-o file]
//
// Parses the model description, elaborates it into the `motif` dialect, runs
// the pipeline (compiler/Pipelines) and prints the requested stage or writes
// the artifact. A crash inside the compiler is reported as a
// compiler bug, with a reproducer written next to the temporary files.
//
//===----------------------------------------------------------------------===//
#include "frontends/motif/Diagnostics.h"
#include "frontends/motif/MLIRGen.h"
#include "frontends/motif/Program.h"

#include "compiler/Pipelines/Pipelines.h"
#include "compiler/Target/ArtifactWriter.h"
#include "compiler/Target/CudaCompile.h"
#include "compiler/Target/CudaEmitter.h"
#include "compiler/Target/HostCompile.h"
#include "compiler/Target/HostEmitter.h"
#include "compiler/Target/Report.h"
#include "tools/motif-compile/Progress.h"
#include "dialects/motif/MotifDialect.h"
#include "runtime/core/Artifact.h"
#include "runtime/core/MemoryPlan.h"
#include "runtime/core/TargetInfo.h"

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassInstrumentation.h"
#include "mlir/Pass/PassManager.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"

#include "llvm/ADT/MapVector.h"
#include "llvm/Pass.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/PrettyStackTrace.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Signals.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <fcntl.h>
#include <optional>
#include <unistd.h>

namespace cl = llvm::cl;

static cl::OptionCategory cat("motif-compile options");
static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.motif>"),
                                      cl::Required, cl::cat(cat));
static cl::opt<std::string> outputFile("o", cl::desc("Output file (default: stdout)"),
                                       cl::value_desc("file"), cl::init("-"),
                                       cl::cat(cat));
enum class Emit { AST, Dot, Motif, Autodiff, Kernel, Cuda, HostLLVM, Plan };
static cl::opt<Emit> emit(
    "emit", cl::desc("The stage to print"), cl::init(Emit::Motif),
    cl::values(clEnumValN(Emit::AST, "ast", "the parsed syntax tree"),
               clEnumValN(Emit::Dot, "dot",
                          "a picture of the architecture for Graphviz (dot -Tsvg): "
                          "blocks, the residual stream, repeats with their count and "
                          "cadence, parameters per block"),
               clEnumValN(Emit::Motif, "motif", "the motif dialect (default)"),
               clEnumValN(Emit::Autodiff, "autodiff",
                          "the motif dialect with @train_step (forward, loss, "
                          "backward)"),
               clEnumValN(Emit::Kernel, "kernel",
                          "the kernel level: GEMMs, fused kernels, tiled "
                          "attention, with each buffer's size and lifetime"),
               clEnumValN(Emit::Cuda, "cuda",
                          "the CUDA C++ of the generated (fused) kernels"),
               clEnumValN(Emit::HostLLVM, "host-llvm",
                          "the LLVM IR of the native CPU fused kernels, per x86-64 level "
                          "(before LLVM's O3)"),
               clEnumValN(Emit::Plan, "plan",
                          "the execution plan stored in the .mbin artifact")),
    cl::cat(cat));
static cl::list<std::string> defines("D", cl::Prefix,
                                     cl::desc("Override a model parameter: -D name=value"),
                                     cl::value_desc("name=value"), cl::cat(cat));
static cl::list<std::string> includeDirs("I", cl::Prefix,
                                         cl::desc("Directory to search for imports"),
                                         cl::value_desc("dir"), cl::cat(cat));
static cl::opt<std::string> modelName("model",
                                      cl::desc("The model or variant to compile "
                                               "(default: the first in the file)"),
                                      cl::value_desc("name"), cl::cat(cat));
static cl::opt<bool> summary("summary",
                             cl::desc("Print parameter counts per block and in total"),
                             cl::cat(cat));
static cl::opt<std::string> dumpIRDir("dump-ir-dir",
                                      cl::desc("Write the IR after each stage, one "
                                               "numbered file per stage, into DIR"),
                                      cl::value_desc("DIR"), cl::cat(cat));
static cl::opt<bool> inferenceOnly(
    "inference-only",
    cl::desc("Write an artifact with @forward only (no train step), e.g. for "
             "models whose backward is not implemented yet"),
    cl::cat(cat));
static cl::opt<int64_t> inferenceContext(
    "context",
    cl::desc("Positions each KV cache of @prefill/@decode_step holds (default: the model's "
             "ctx parameter)"),
    cl::init(0), cl::cat(cat));

static cl::opt<bool> report(
    "report",
    cl::desc("Print the memory plan: the arena each entry point needs (at the "
             "recipe's batch and sequence, or --dims), its largest buffers, and "
             "the parameter and optimizer memory"),
    cl::cat(cat));
static cl::opt<std::string> reportDimsOpt(
    "dims", cl::desc("Sizes of the symbolic dims for --report, e.g. B=16,T=1024"),
    cl::value_desc("NAME=SIZE,..."), cl::cat(cat));
static cl::list<std::string> targets(
    "target", cl::CommaSeparated,
    cl::desc("What the artifact runs on: cpu, sm_80, sm_90a (default: all that this "
             "build can compile for). Attention tiles are chosen for the newest GPU given"),
    cl::value_desc("cpu,sm_80,sm_90a"), cl::cat(cat));
static cl::opt<std::string> precisionOpt(
    "precision",
    cl::desc("Override the recipe's precision, which decides what the GPU stores "
             "values in: bf16, fp32 or fp16"),
    cl::value_desc("bf16|fp32|fp16"), cl::cat(cat));
static cl::opt<bool> quiet(
    "quiet",
    cl::desc("Print no progress lines (a compile that takes more than a few seconds "
             "says on stderr which stage is running)"),
    cl::cat(cat));
static cl::opt<double> progressAfter(
    "progress-after", cl::init(5.0), cl::Hidden,
    cl::desc("Seconds before the first progress line (tests use 0)"));
static cl::opt<bool> noScanLowering(
    "no-scan-lowering",
    cl::desc("Keep every scan in its sequential form (the reference; no chunking)"));
static cl::opt<int> scanChunk(
    "scan-chunk", cl::init(0),
    cl::desc("Steps per chunk of every scan instead of the cost model's choice"));
static cl::opt<std::string> cpuTarget(
    "cpu-target", cl::init("native"),
    cl::desc("The x86-64 level the cpu target's native fused kernels are built for, besides "
             "the portable baseline (x86-64) every artifact carries: native (this machine's), "
             "x86-64-v2, x86-64-v3 (AVX2), x86-64-v4 (AVX-512)"),
    cl::value_desc("level"), cl::cat(cat));
static cl::opt<bool> noNativeCpu(
    "no-native-cpu",
    cl::desc("Carry no native code for the fused kernels (the cpu backend interprets them)"),
    cl::cat(cat));
static cl::opt<bool> noFusion("no-fusion",
                              cl::desc("Keep one kernel per op (no fusion pass)"),
                              cl::cat(cat));
static cl::opt<bool> noExpertGrouping(
    "no-expert-grouping",
    cl::desc("Rewrite each moe into the dense reference form (the same routing as dense "
             "gates, every expert over every token) instead of route/permute/grouped "
             "GEMM/combine"),
    cl::cat(cat));
enum class Recompute { Attention };
static cl::list<Recompute> recompute(
    "recompute", cl::CommaSeparated,
    cl::desc("Recompute in the backward instead of keeping (trades compute for memory)"),
    cl::values(clEnumValN(Recompute::Attention, "attention",
                          "each attention's output and log-sum-exp")),
    cl::cat(cat));
static cl::opt<motif::rt::ArenaPlacement> arenaPlacement(
    "arena-placement", cl::init(motif::rt::ArenaPlacement::Auto),
    cl::desc("How the buffers are placed in the arena (docs/passes.md, memory planning)"),
    cl::values(clEnumValN(motif::rt::ArenaPlacement::Auto, "auto",
                          "greedy by size unless the plan has more than 2^24 pairs of "
                          "buffers alive together (deep train steps) or 2^15 buffers, "
                          "then in order"),
               clEnumValN(motif::rt::ArenaPlacement::GreedyBySize, "greedy",
                          "largest first, each at the lowest provably free offset"),
               clEnumValN(motif::rt::ArenaPlacement::InOrder, "in-order",
                          "in definition order, first fit in the freed holes (linear)")),
    cl::cat(cat));
static cl::opt<unsigned> maxErrors("max-errors", cl::init(20),
                                   cl::desc("Stop after this many errors"),
                                   cl::cat(cat));

static cl::opt<bool> debugCrash("debug-crash", cl::Hidden,
                                cl::desc("Crash on purpose (tests the reproducer)"));

// --- crash reproducer --------------------------------------------------------

static std::string reproPath;
static std::string reproText;

/// Runs in a signal handler: only async-signal-safe calls.
static void writeReproducer(void *) {
  const char *msg1 = "\nmotif-compile: internal compiler error: this is a bug in "
                     "Motif, not in your model.\n";
  (void)!write(2, msg1, strlen(msg1));
  int fd = open(reproPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    (void)!write(fd, reproText.data(), reproText.size());
    close(fd);
    const char *msg2 = "motif-compile: a reproducer was written to ";
    (void)!write(2, msg2, strlen(msg2));
    (void)!write(2, reproPath.c_str(), reproPath.size());
    const char *msg3 = "\nmotif-compile: please report it with that file.\n";
    (void)!write(2, msg3, strlen(msg3));
  }
}

static void prepareReproducer(int argc, char **argv) {
  llvm::SmallString<128> path;
  if (llvm::sys::fs::createTemporaryFile("motif-crash", "motif", path))
    return;
  reproPath = std::string(path);
  reproText = "# motif-compile crash reproducer\n# command:";
  for (int i = 0; i < argc; ++i)
    reproText += std::string(" ") + argv[i];
  reproText += "\n";
  auto buf = llvm::MemoryBuffer::getFile(inputFile);
  if (buf)
    reproText += (*buf)->getBuffer().str();
  llvm::sys::AddSignalHandler(writeReproducer, nullptr);
}

static bool writeStage(const std::string &dir, int index, llvm::StringRef name,
                       mlir::ModuleOp module) {
  if (auto ec = llvm::sys::fs::create_directories(dir)) {
    llvm::errs() << "motif-compile: error: cannot create --dump-ir-dir '" << dir
                 << "': " << ec.message() << "\n";
    return false;
  }
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, llvm::formatv("{0:d2}-{1}.mlir", index, name).str());
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec) {
    llvm::errs() << "motif-compile: error: cannot write '" << path
                 << "': " << ec.message() << "\n";
    return false;
  }
  module.print(os, mlir::OpPrintingFlags().enableDebugInfo(true, false));
  return true;
}

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  llvm::setBugReportMsg("motif-compile crashed: this is a bug in Motif. The "
                        "stack below helps us fix it.\n");
  // --time-passes is LLVM's own flag (llvm::TimePassesIsEnabled); show it.
  if (auto *opt = cl::getRegisteredOptions().lookup("time-passes")) {
    opt->addCategory(cat);
    opt->setDescription("Time each stage of the compiler");
  }
  cl::HideUnrelatedOptions(cat);
  cl::ParseCommandLineOptions(
      argc, argv,
      "motif-compile: compile a .motif model description\n\n"
      "  motif-compile examples/gpt2.motif --emit=motif --model=gpt2_tiny\n"
      "  motif-compile examples/llama.motif --summary -D layers=4\n");
  prepareReproducer(argc, argv);
  if (debugCrash)
    __builtin_trap();

  motif::rt::setDefaultArenaPlacement(arenaPlacement);
  motif::CompileProgress progress(!quiet, progressAfter);
  progress.stage("parse");
  mlir::DefaultTimingManager tm;
  tm.setEnabled(llvm::TimePassesIsEnabled);
  mlir::TimingScope root = tm.getRootScope();

  llvm::SourceMgr srcMgr;
  motif::DiagEngine diags(srcMgr, llvm::errs());
  diags.setMaxErrors(maxErrors);

  motif::GenOptions opts;
  opts.model = modelName;
  for (const std::string &d : defines) {
    size_t eq = d.find('=');
    if (eq == std::string::npos || eq == 0) {
      llvm::errs() << "motif-compile: error: -D" << d
                   << ": expected name=value (as in -D layers=4)\n";
      return 1;
    }
    opts.defines.push_back({d.substr(0, eq), d.substr(eq + 1)});
  }

  motif::Program program;
  bool loaded;
  {
    mlir::TimingScope t = root.nest("parse");
    loaded = motif::loadProgram(program, inputFile, includeDirs, diags);
  }
  if (emit == Emit::AST) {
    if (!program.mainFile)
      return 1;
    std::string err;
    auto out = mlir::openOutputFile(outputFile, &err);
    if (!out) {
      llvm::errs() << "motif-compile: error: " << err << "\n";
      return 1;
    }
    motif::dumpAST(*program.mainFile, out->os(), [&](llvm::SMLoc l) {
      auto lc = diags.lineCol(l);
      return std::to_string(lc.line) + ":" + std::to_string(lc.col);
    });
    out->keep();
    return loaded ? 0 : 1;
  }
  if (!loaded)
    return 1;

  mlir::MLIRContext ctx;
  ctx.printOpOnDiagnostic(false);
  // Diagnostics of passes point into the .motif sources, with the call chain.
  mlir::SourceMgrDiagnosticHandler passDiags(srcMgr, &ctx, llvm::errs());
  motif::GenInfo info;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  {
    progress.stage("elaborate");
    mlir::TimingScope t = root.nest("elaborate (MLIRGen)");
    module = motif::mlirGen(ctx, program, opts, diags, &info);
  }
  if (!module)
    return 1;
  {
    progress.stage("verify");
    mlir::TimingScope t = root.nest("verify");
    if (mlir::failed(mlir::verify(*module))) {
      // The frontend made IR that does not verify: that is our bug.
      llvm::SmallString<128> path;
      if (!llvm::sys::fs::createTemporaryFile("motif-crash", "mlir", path)) {
        std::error_code ec;
        llvm::raw_fd_ostream os(path, ec);
        module->print(os, mlir::OpPrintingFlags().assumeVerified().enableDebugInfo());
      }
      llvm::errs() << "motif-compile: internal compiler error: the frontend "
                      "made IR that does not verify (a bug in Motif); the IR "
                      "was written to "
                   << path << " (run: motif-opt " << path << ")\n";
      return 2;
    }
  }
  if (!precisionOpt.empty()) {
    if (precisionOpt != "bf16" && precisionOpt != "fp32" && precisionOpt != "fp16") {
      llvm::errs() << "motif-compile: error: unknown precision '" << precisionOpt
                   << "' (expected bf16, fp32 or fp16)\n";
      return 1;
    }
    mlir::NamedAttrList recipe;
    if (auto d = (*module)->getAttrOfType<mlir::DictionaryAttr>("motif.train"))
      recipe = mlir::NamedAttrList(d);
    recipe.set("precision", mlir::StringAttr::get(&ctx, precisionOpt));
    (*module)->setAttr("motif.train", recipe.getDictionary(&ctx));
  }
  if (emit == Emit::Dot) {
    std::string err;
    auto out = mlir::openOutputFile(outputFile, &err);
    if (!out) {
      llvm::errs() << "motif-compile: error: " << err << "\n";
      return 1;
    }
    if (!motif::printArchitectureDot(program, *module, info, out->os())) {
      llvm::errs() << "motif-compile: error: model '" << info.modelName
                   << "' has no declaration to draw\n";
      return 1;
    }
    out->keep();
    return 0;
  }
  if (!dumpIRDir.empty() && !writeStage(dumpIRDir, 0, "motif", *module))
    return 1;
  // Writing an artifact, or showing its plan, compiles the train step too
  // when the model has a loss.
  bool wantsArtifact = llvm::StringRef(outputFile).ends_with(".mbin");
  bool hasLoss = false;
  if (auto fwd = module->lookupSymbol<mlir::func::FuncOp>("forward"))
    for (unsigned i = 0; i < fwd.getNumResults(); ++i)
      hasLoss |= static_cast<bool>(fwd.getResultAttr(i, "motif.loss"));
  bool toArtifact = wantsArtifact || emit == Emit::Plan;
  bool train = hasLoss && !inferenceOnly &&
               (emit == Emit::Autodiff || emit == Emit::Kernel || emit == Emit::Cuda ||
                emit == Emit::HostLLVM ||
                toArtifact || report);
  bool lower = emit == Emit::Kernel || emit == Emit::Cuda || emit == Emit::HostLLVM || report ||
               toArtifact;
  std::vector<std::string> targetList(targets.begin(), targets.end());
  if (targetList.empty()) {
    targetList.push_back("cpu");
    if (motif::haveCudaCompiler())
      targetList.insert(targetList.end(), {"sm_80", "sm_90a"});
  }
  std::string why;
  if (!mlir::motif::validateTargets(targetList, why)) {
    llvm::errs() << "motif-compile: error: " << why << "\n";
    return 1;
  }
  bool anyGpu = llvm::any_of(targetList, [](const std::string &t) {
    return motif::rt::TargetInfo::parse(t)->isGpu();
  });
  // The cpu target's native fused kernels: the chosen level and the baseline.
  bool nativeCpu = (toArtifact || emit == Emit::HostLLVM) && !noNativeCpu &&
                   llvm::is_contained(targetList, "cpu");
  if (nativeCpu && !motif::resolveHostCpu(cpuTarget)) {
    llvm::errs() << "motif-compile: error: unknown --cpu-target '" << cpuTarget
                 << "' (expected " << motif::hostCpuList() << ")\n";
    return 1;
  }
  // Timing an output that needs no pipeline (the default --emit=motif, as
  // for -o /dev/null) times elaboration only: say so, rather than print a
  // report the reader takes for the whole compile.
  if (llvm::TimePassesIsEnabled && !train && !lower)
    llvm::errs() << "motif-compile: note: --time-passes times the stages this output needs: "
                    "parsing and elaboration (--emit=motif); write an artifact (-o FILE.mbin) "
                    "or pass --emit=kernel to time the whole pipeline\n";
  if (train || lower) {
    // The pipeline after elaboration (compiler/Pipelines); each pass's output
    // is dumped in turn.
    mlir::PassManager pm(&ctx);
    pm.enableTiming(root);
    mlir::motif::PipelineOptions po;
    po.train = train;
    po.lower = lower;
    po.fusion = !noFusion;
    po.expertGrouping = !noExpertGrouping;
    // An artifact (and the report) carries the inference functions and
    // their state plan wherever the model can decode step by step.
    po.inference = toArtifact || report;
    po.inferenceContext = inferenceContext;
    po.scanLowering = !noScanLowering;
    po.scanChunk = scanChunk;
    po.targets = targetList;
    po.recomputeAttention = llvm::is_contained(recompute, Recompute::Attention);
    po.planMemory = emit == Emit::Kernel;
    po.dims = reportDimsOpt;
    // GPU code: emission names each fused kernel on its op (kernel.name,
    // kernel.bcast), which the plan then carries.
    po.emitCuda = emit == Emit::Cuda || (toArtifact && anyGpu);
    if (nativeCpu)
      po.hostCpus = std::vector<std::string>{cpuTarget, "x86-64"};
    mlir::motif::buildMotifPipeline(pm, po);
    int stage = 1;
    struct Dumper : mlir::PassInstrumentation {
      std::string dir;
      int *stage;
      bool *ok;
      void runAfterPass(mlir::Pass *pass, mlir::Operation *op) override {
        if (auto m = llvm::dyn_cast<mlir::ModuleOp>(op))
          *ok &= writeStage(dir, (*stage)++, pass->getArgument(), m);
      }
    };
    pm.addInstrumentation(progress.instrumentation());
    bool dumpOk = true;
    if (!dumpIRDir.empty()) {
      auto d = std::make_unique<Dumper>();
      d->dir = dumpIRDir;
      d->stage = &stage;
      d->ok = &dumpOk;
      pm.addInstrumentation(std::move(d));
    }
    if (mlir::failed(pm.run(*module)) || !dumpOk)
      return 1;
  }
  if (emit == Emit::HostLLVM) {
    std::string err;
    auto out = mlir::openOutputFile(outputFile, &err);
    if (!out) {
      llvm::errs() << "motif-compile: error: " << err << "\n";
      return 1;
    }
    for (mlir::ModuleOp kernels : motif::hostKernelModules(*module)) {
      std::string ir, why;
      if (mlir::failed(motif::hostKernelsLLVMIR(kernels, ir, why))) {
        llvm::errs() << "motif-compile: error: " << why << "\n";
        return 1;
      }
      out->os() << "; x86-64 level: "
                << kernels->getAttrOfType<mlir::StringAttr>("kernel.host_cpu").getValue() << "\n"
                << ir;
    }
    out->keep();
    return 0;
  }
  if (emit == Emit::Cuda) {
    auto cuda = motif::cudaSourceOf(*module);
    if (!cuda)
      return 1;
    std::string err;
    auto out = mlir::openOutputFile(outputFile, &err);
    if (!out) {
      llvm::errs() << "motif-compile: error: " << err << "\n";
      return 1;
    }
    out->os() << cuda->text;
    llvm::MapVector<llvm::StringRef, int> reasons;
    for (const std::string &why : cuda->unsupported)
      ++reasons[why];
    for (auto &[why, n] : reasons)
      llvm::errs() << "motif-compile: note: "
                   << (n == 1 ? std::string("a fused kernel has")
                              : std::to_string(n) + " fused kernels have")
                   << " no CUDA version: " << why << "\n";
    out->keep();
    return 0;
  }
  if (report) {
    std::string why;
    if (!motif::printMemoryReport(*module, reportDimsOpt, llvm::outs(), why)) {
      llvm::errs() << "motif-compile: error: " << why << "\n";
      return 1;
    }
    if (!toArtifact && emit != Emit::Kernel)
      return 0;
  }
  if (wantsArtifact || emit == Emit::Plan) {
    motif::rt::Artifact artifact;
    auto src = llvm::MemoryBuffer::getFile(inputFile);
    std::optional<motif::CudaSource> cuda;
    if (anyGpu) {
      cuda = motif::cudaSourceOf(*module);
      if (!cuda)
        return 1;
      // One line per reason, with how many kernels it holds back.
      llvm::MapVector<llvm::StringRef, int> reasons;
      for (const std::string &why : cuda->unsupported)
        ++reasons[why];
      for (auto &[why, n] : reasons)
        llvm::errs() << "motif-compile: warning: "
                     << (n == 1 ? std::string("a fused kernel has")
                                : std::to_string(n) + " fused kernels have")
                     << " no CUDA version (" << why
                     << "); the GPU backend will refuse this plan\n";
    }
    {
      progress.stage("artifact (plan, arena placement)");
      mlir::TimingScope t = root.nest("artifact (plan, arena placement)");
      if (mlir::failed(motif::exportArtifact(
              *module, inputFile, src ? (*src)->getBuffer().str() : "", artifact)))
        return 1;
    }
    if (llvm::TimePassesIsEnabled) // which arena placement the stage above ran
      for (const motif::rt::Function &f : artifact.functions)
        llvm::errs() << "motif-compile: arena placement of @" << f.name << ": "
                     << f.arena.placement << "\n";
    artifact.targets = targetList;
    if (cuda) {
      progress.stage("CUDA (NVRTC)");
      mlir::TimingScope t = root.nest("CUDA (NVRTC)");
      for (const std::string &arch : targetList) {
        if (!motif::rt::TargetInfo::parse(arch)->isGpu())
          continue;
        motif::rt::GpuCode::Binary bin;
        bin.arch = arch;
        motif::rt::Status st =
            motif::compileCuda(artifact.gpu.source, arch, bin.cubin, bin.ptx);
        if (!st.isOk()) {
          llvm::errs() << "motif-compile: error: " << st.message() << "\n";
          return 1;
        }
        artifact.gpu.binaries.push_back(std::move(bin));
      }
    }
    if (nativeCpu) {
      mlir::TimingScope t = root.nest("native CPU kernels (LLVM, ld.lld)");
      for (mlir::ModuleOp kernels : motif::hostKernelModules(*module)) {
        if (kernels.getBody()->empty())
          break; // no fused kernel to carry
        motif::rt::HostCode::Library lib;
        lib.cpu = kernels->getAttrOfType<mlir::StringAttr>("kernel.host_cpu").str();
        std::string why;
        if (mlir::failed(motif::compileHostKernels(kernels, lib.image, why))) {
          llvm::errs() << "motif-compile: error: native CPU kernels for " << lib.cpu << ": "
                       << why << " (--no-native-cpu leaves them out)\n";
          return 1;
        }
        artifact.host.libraries.push_back(std::move(lib));
      }
    }
    if (emit == Emit::Plan) {
      std::string err;
      auto out = mlir::openOutputFile(wantsArtifact ? std::string("-") : std::string(outputFile), &err);
      if (!out) {
        llvm::errs() << "motif-compile: error: " << err << "\n";
        return 1;
      }
      out->os() << motif::rt::describeArtifact(artifact);
      out->keep();
    }
    if (wantsArtifact) {
      progress.stage("write " + std::string(outputFile));
      motif::rt::Status st = motif::rt::writeArtifact(artifact, outputFile);
      if (!st.isOk()) {
        llvm::errs() << "motif-compile: error: " << st.message() << "\n";
        return 1;
      }
    }
    return 0;
  }
  if (summary) {
    motif::printParamSummary(*module, info, llvm::outs());
    if (outputFile == "-")
      return 0;
  }
  std::string err;
  auto out = mlir::openOutputFile(outputFile, &err);
  if (!out) {
    llvm::errs() << "motif-compile: error: " << err << "\n";
    return 1;
  }
  module->print(out->os(), mlir::OpPrintingFlags().enableDebugInfo(true, false));
  out->keep();
  return 0;
}
