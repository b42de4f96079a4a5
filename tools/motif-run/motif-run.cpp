//===- motif-run.cpp - Runs a compiled Motif artifact ----------------------===//
//
// motif-run inspect  model.mbin
// motif-run train    model.mbin --data FILE [--steps N --batch B --seq T ...]
// motif-run generate model.mbin --checkpoint FILE [--prompt TEXT ...]
// motif-run eval     model.mbin --data FILE --checkpoint FILE
// motif-run bench    model.mbin [--function train_step --batch B --seq T ...]
// motif-run tokenize --tokenizer FILE -o OUT.bin TEXT...
//
// The runtime library it is built on has no MLIR dependency.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Artifact.h"
#include "runtime/core/ParameterBytes.h"
#include "runtime/core/TargetInfo.h"
#include "runtime/cpu/Kernels.h"
#include "runtime/cuda/Doctor.h"
#include "runtime/cuda/LaunchPlan.h"
#include "runtime/cuda/backend/DeviceEngine.h"
#include "runtime/exec/Crash.h"
#include "runtime/fastcpu/Blas.h"
#include "runtime/tokenizer/Tokenizer.h"
#include "runtime/train/Data.h"
#include "runtime/infer/Generate.h"
#include "runtime/train/Support.h"
#include "runtime/train/Trainer.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream> // the reports' sink (std::cout)
#include <new>
#include <optional>
#include <string>
#include <thread>

using namespace motif::rt;

namespace {
const char *kUsage =
    "usage: motif-run <command> model.mbin [options]\n"
    "       motif-run doctor [model.mbin]\n"
    "\n"
    "commands:\n"
    "  doctor     the NVIDIA driver and devices of this machine, the CPU\n"
    "             threads; with an artifact, what it would run on each device\n"
    "  inspect    print the artifact's header, parameter table and plan\n"
    "  train      train a model (the model's train {} recipe gives the\n"
    "             defaults; flags override):\n"
    "               --data FILE  --out DIR (run)\n"
    "                 FILE: raw text or an llm.c .bin shard (next-token or, for\n"
    "                 an encoder, masked LM), JSON lines of {\"source\",\"target\"}\n"
    "                 (encoder-decoder), or named arrays (.safetensors, .npz,\n"
    "                 .npy) matching the model's inputs (images, labels, ...)\n"
    "               --objective lm|mlm|seq2seq|arrays (default: from FILE)\n"
    "               --mask-rate F --mask-token ID --source-seq S\n"
    "               --tokenizer FILE (tokenizer.json or SentencePiece .model:\n"
    "               text and pairs go through it; else they are read byte by byte)\n"
    "               --steps N --batch B --seq T --accumulate K --lr X --clip X\n"
    "               --weight-decay X --optimizer adamw|sgd|lion\n"
    "               --schedule cosine|wsd|linear|constant --warmup N\n"
    "               --eval-every N --eval-steps N --checkpoint-every N --keep N\n"
    "               --val-fraction F --seed N --resume CHECKPOINT --nan-check\n"
    "               --allow-resume-changes (resume with other settings)\n"
    "               --log-every N --quiet\n"
    "               --grad-norms-every N (per-layer gradient norms in\n"
    "               metrics.jsonl; default: at each evaluation; 0: never)\n"
    "               --no-cuda-graphs (sim, cuda: no graph capture)\n"
    "  check-grad compare autodiff gradients with finite differences on one\n"
    "             batch, in fp64 (default; tolerance 1e-6) or --fp32 (1e-2):\n"
    "               --data FILE --batch B --seq T --eps X (first step)\n"
    "               --tol X --seed N --training (training-time noise\n"
    "               held at one draw, as the train step saw it)\n"
    "  smoke      run forward and train_step once on synthetic inputs:\n"
    "               --batch B --seq T --seed N --fp64 (in double, 17 digits)\n"
    "  eval       the mean loss over a data file with a checkpoint's weights:\n"
    "               --data FILE --checkpoint FILE --batch B --seq T --batches N\n"
    "               --objective lm|mlm|seq2seq|arrays --mask-token ID --source-seq S\n"
    "               --tokenizer FILE\n"
    "  tokenize   text files through a tokenizer into one llm.c shard (uint16\n"
    "             tokens when the vocabulary fits, else uint32); no artifact:\n"
    "               motif-run tokenize --tokenizer FILE -o OUT.bin TEXT...\n"
    "               [--separator TOKEN] (a token, e.g. <|endoftext|>, before\n"
    "               each file)\n"
    "  gpu-plan   what the GPU backend would run, worked out on the host: the\n"
    "             binary for a device, each buffer's storage and arena offset,\n"
    "             each generated kernel's launch: --arch sm_80|sm_90a --batch B\n"
    "             --seq T --function NAME --precision fp32|bf16 --free-mib N\n"
    "  check-ref  run a function in fp32 beside its fp64 reference (--device\n"
    "             reference, the default, or cpu), or on a device beside the\n"
    "             CPU's fp32 run (--device sim|cuda), and name the first op\n"
    "             whose result differs by more than --tol (default 1e-3 on the\n"
    "             CPU, 3e-2 on a device):\n"
    "               --function NAME --batch B --seq T --tol X --seed N\n"
    "               --training (both runs draw training-time noise)\n"
    "  bench      time steps on synthetic inputs (text and a JSON line):\n"
    "               --function train_step|forward --batch B --seq T\n"
    "               --steps N --warmup N --seed N\n"
    "               --no-cuda-graphs (sim, cuda: time without graphs only)\n"
    "  generate   sample text from a checkpoint with @prefill and @decode_step\n"
    "             (a KV cache; --prompt again for a batch of prompts):\n"
    "               --checkpoint FILE --prompt TEXT --tokens N (new tokens)\n"
    "               --temp X (0: greedy) --top-k K --top-p P --min-p P\n"
    "               --repeat-penalty X --repeat-last-n N --stop TEXT --seed N\n"
    "               --context N (the longest sequence; default: the model's ctx)\n"
    "               --recompute (re-run @forward per token instead)\n"
    "               --decoder-start N (an encoder-decoder, whose prompts are\n"
    "               its sources: the decoder's first token; default: the\n"
    "               model's decoder_start, else 0)\n"
    "               --tokenizer FILE (tokenizer.json or SentencePiece .model;\n"
    "               default: bytes)\n"
    "  check-decode  prefill + decode steps against @forward's logits at every\n"
    "             position, in fp64 (default; tolerance 1e-9) or --fp32 (1e-4):\n"
    "               --lengths 7,4 (prompts, one batch) --steps N --tol X --seed N\n"
    "               --source-lengths 9,6 (an encoder-decoder's sources;\n"
    "               default: each prompt's length + 2)\n"
    "               --device cpu (default) | sim | cuda (fp32 there)\n"
    "\n"
    "train, eval, generate, bench, check-ref and check-decode take --device\n"
    "cpu|reference|sim|cuda: the fast CPU backend, the reference CPU backend (the\n"
    "oracle, fp32 or fp64), the CUDA backend under the SIMT simulator, or on the\n"
    "GPU; the default is cuda when the driver reports a GPU, else cpu (check-ref:\n"
    "reference; check-decode: cpu).\n"
    "Every command takes --threads N: the CPU backends' threads (default: the\n"
    "hardware's).\n"
    "train, eval, generate, bench and check-ref on --device cpu take\n"
    "--cpu-matmul fp32|bf16: the fast CPU backend's GEMM operands in fp32 (the\n"
    "default) or rounded to bf16, accumulated in fp32 (on AMX or AVX512-BF16;\n"
    "docs/cpu-backend.md).\n";

bool parseInt(const char *s, int64_t &out) {
  char *end = nullptr;
  out = std::strtoll(s, &end, 10);
  return end && *end == '\0' && end != s;
}
bool parseDouble(const char *s, double &out) {
  char *end = nullptr;
  out = std::strtod(s, &end);
  return end && *end == '\0' && end != s;
}

/// An error in the command line: the message and one line pointing to
/// --help (the whole usage would scroll the error away).
/// A number as the user would write it: "0.5", "1", "1e-06".
std::string fmtNumber(double v) {
  return fmt::format("{:g}", v);
}

int usageError(const std::string &msg) {
  fmt::print(stderr, "motif-run: error: {}\nmotif-run: run 'motif-run --help' for usage\n",
             msg.c_str());
  return 1;
}
} // namespace

namespace {
/// motif-run tokenize: text files through a tokenizer into one llm.c shard.
int tokenizeCommand(int argc, char **argv) {
  std::string tokPath, out, separator;
  std::vector<std::string> inputs;
  for (int i = 2; i < argc; ++i) {
    std::string f = argv[i];
    auto value = [&](std::string &dst) {
      if (i + 1 >= argc)
        return false;
      dst = argv[++i];
      return true;
    };
    if (f == "--tokenizer" || f == "-o" || f == "--out" || f == "--separator") {
      std::string &dst = f == "--tokenizer" ? tokPath : f == "--separator" ? separator : out;
      if (!value(dst))
        return usageError("option " + f + " needs a value");
    } else if (!f.empty() && f[0] == '-') {
      return usageError("unknown option '" + f + "' for tokenize");
    } else {
      inputs.push_back(f);
    }
  }
  if (tokPath.empty() || out.empty() || inputs.empty())
    return usageError("'tokenize' needs --tokenizer FILE, -o OUT.bin and text files");
  auto fail = [](const std::string &m) {
    fmt::print(stderr, "motif-run: error: {}\n", m.c_str());
    return 1;
  };
  auto tok = Tokenizer::load(tokPath);
  if (!tok.isOk())
    return fail(tok.status().message());
  int64_t sep = -1;
  if (!separator.empty() && (sep = (*tok)->tokenId(separator)) < 0)
    return fail("--separator '" + separator + "' is not a token of '" + tokPath + "'");
  std::vector<uint32_t> all;
  for (const std::string &in : inputs) {
    auto data = loadTokens(in, tok->get());
    if (!data.isOk())
      return fail(data.status().message());
    if (data->format != "text")
      return fail("'" + in + "' is already an llm.c shard");
    if (sep >= 0)
      all.push_back(static_cast<uint32_t>(sep));
    all.insert(all.end(), data->tokens.begin(), data->tokens.end());
  }
  if (Status s = writeTokenShard(out, all, (*tok)->vocabSize()); !s)
    return fail(s.message());
  fmt::print("{} tokens from {} file(s) through {} -> {} ({} tokens)\n", all.size(),
             inputs.size(), (*tok)->describe().c_str(), out.c_str(),
             (*tok)->vocabSize() <= 65536 ? "uint16" : "uint32");
  return 0;
}

/// `generate` with prefill and decode: streams one sequence's text as it is
/// made (a batch's texts are printed when done, one per line, numbered),
/// then the sampler chain and the prefill and decode speeds on stderr.
int runGenerate(const Artifact &artifact, const SampleOptions &g,
                const std::vector<std::string> &prompts, const std::vector<std::string> &stops,
                double minP, double repeatPenalty, int64_t repeatLastN, int64_t decoderStart) {
  GenerateOptions o;
  o.decoderStart = decoderStart;
  std::unique_ptr<TokenCodec> codec;
  if (!g.tokenizer.empty()) {
    auto tok = Tokenizer::load(g.tokenizer);
    if (!tok.isOk()) {
      fmt::print(stderr, "motif-run: error: {}\n", tok.status().message().c_str());
      return 1;
    }
    int64_t vocab = vocabOf(artifact);
    if (vocab > 0 && (*tok)->vocabSize() > vocab) {
      fmt::print(stderr, "motif-run: error: tokenizer '{}' has {} tokens but the model's "
                 "vocabulary is {}\n", g.tokenizer.c_str(), (*tok)->vocabSize(),
                 static_cast<long long>(vocab));
      return 1;
    }
    for (const std::string &p : prompts)
      if (auto ids = (*tok)->encode(p); !ids.isOk()) {
        fmt::print(stderr, "motif-run: error: {}\n", ids.status().message().c_str());
        return 1;
      }
    codec = tokenizerCodec(std::move(*tok));
    o.codec = codec.get();
  }
  o.checkpoint = g.checkpoint;
  o.prompts = prompts;
  o.maxTokens = g.tokens;
  o.context = g.context;
  o.device = g.device;
  o.stops = stops;
  o.sampler.temperature = g.temperature;
  o.sampler.topK = g.topK;
  o.sampler.topP = g.topP;
  o.sampler.minP = minP;
  o.sampler.repeatPenalty = repeatPenalty;
  o.sampler.repeatLastN = repeatLastN;
  o.sampler.seed = g.seed;
  bool stream = prompts.size() <= 1;
  // An encoder-decoder's prompt is its source, not the start of its text.
  const Function *prefill = artifact.function("prefill");
  bool echo = !(prefill && prefill->argNames.size() == 4 &&
                prefill->argNames[3] == "source_lengths");
  if (stream) {
    if (echo)
      fmt::print("{}", prompts.empty() ? "" : prompts.front());
    std::fflush(stdout);
    o.onText = [](size_t, const std::string &text) {
      fmt::print("{}", text);
      std::fflush(stdout);
    };
  }
  auto r = generateBatch(artifact, o);
  if (!r.isOk()) {
    std::fflush(stdout);
    fmt::print(stderr, "\nmotif-run: error: {}\n", r.status().message().c_str());
    return 1;
  }
  if (stream)
    fmt::print("\n");
  else
    for (size_t b = 0; b < prompts.size(); ++b)
      fmt::print("[{}] {}{}\n", b + 1, echo ? prompts[b] : std::string(), r->texts[b]);
  std::fflush(stdout);
  fmt::print(stderr, "sampler: {}\n", r->chain.c_str());
  auto rate = [](int64_t n, double s) { return s > 0 ? n / s : 0.0; };
  fmt::print(stderr,
             "prefill: {} tokens in {:.3f} s ({:.1f} tokens/s); decode: {} tokens in {:.3f} s "
             "({:.1f} tokens/s), batch {}\n",
             static_cast<long long>(r->prefillTokens), r->prefillSeconds,
             rate(r->prefillTokens, r->prefillSeconds),
             static_cast<long long>(r->decodeTokens), r->decodeSeconds,
             rate(r->decodeTokens, r->decodeSeconds), std::max<size_t>(prompts.size(), 1));
  if (r->graphCaptures || r->graphReplays)
    fmt::print(stderr, "decode steps as CUDA graphs: {} captured, {} replayed\n",
               static_cast<long long>(r->graphCaptures), static_cast<long long>(r->graphReplays));
  return 0;
}

int runCommand(int argc, char **argv) {
  gpu::registerDeviceEngines();
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 1 : 0;
  }
  std::string cmd = argv[1];
  for (int i = 2; i < argc; ++i)
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::fputs(kUsage, stdout);
      return 0;
    }
  installCrashHandler("motif-run", argc, argv, argc >= 3 ? 2 : -1);
  if (cmd == "doctor") {
    if (argc > 3)
      return usageError("'doctor' takes at most an artifact");
    std::optional<Artifact> art;
    if (argc == 3) {
      auto a = readArtifact(argv[2]);
      if (!a.isOk()) {
        fmt::print(stderr, "motif-run: error: {}\n", a.status().message().c_str());
        return 1;
      }
      art = std::move(*a);
      fmt::print("artifact {}: model '{}', targets", argv[2], art->model.c_str());
      for (const std::string &t : art->targets)
        fmt::print(" {}", t.c_str());
      fmt::print("\n");
    }
    fmt::print("CPU backend: {} hardware threads\n", std::thread::hardware_concurrency());
    fmt::print("CPU bf16 matmuls (--cpu-matmul bf16): {}\n",
               motif::rt::fast::haveBf16Gemm()
                   ? "yes (oneDNN on AMX or AVX512-BF16)"
                   : "no (this processor has no AMX or AVX512-BF16 for oneDNN, or no oneDNN)");
    auto d = gpu::queryDriver();
    if (!d.isOk()) {
      fmt::print("GPU: {}; motif-run's default device is cpu (--device sim runs the CUDA "
                 "backend under the simulator)\n",
                 d.status().message().c_str());
      return 0;
    }
    fmt::print("NVIDIA driver {}.{}, {} device(s)\n", d->version / 1000,
               (d->version % 1000) / 10, d->devices.size());
    for (size_t i = 0; i < d->devices.size(); ++i) {
      const gpu::DeviceInfo &dev = d->devices[i];
      fmt::print("  device {}: {}, {}, {} multiprocessors, {:.1f} GiB", i, dev.name.c_str(),
                 gpu::archName(dev.major, dev.minor).c_str(), dev.multiprocessors,
                 dev.totalBytes / 1073741824.0);
      if (art) {
        bool ptx = false;
        auto b = gpu::pickBinary(*art, dev.major, dev.minor, &ptx);
        if (b.isOk())
          fmt::print("; runs the artifact's {} of {}", ptx ? "PTX" : "cubin",
                     (*b)->arch.c_str());
        else
          fmt::print("; {}", b.status().message().c_str());
      }
      fmt::print("\n");
    }
    fmt::print("motif-run's default device: {}\n", gpu::defaultDevice().c_str());
    return 0;
  }
  if (cmd == "tokenize")
    return tokenizeCommand(argc, argv);
  if (cmd != "inspect" && cmd != "train" && cmd != "generate" &&
      cmd != "check-grad" && cmd != "smoke" && cmd != "bench" && cmd != "eval" &&
      cmd != "gpu-plan" && cmd != "check-ref" && cmd != "check-decode")
    return usageError("unknown command '" + cmd + "'");
  if (argc < 3)
    return usageError("'" + cmd + "' needs an artifact (model.mbin)");
  auto artifact = readArtifact(argv[2]);
  if (!artifact.isOk()) {
    fmt::print(stderr, "motif-run: error: {}\n", artifact.status().message().c_str());
    return 1;
  }
  if (cmd == "inspect") {
    if (argc != 3)
      return usageError("'inspect' takes no options");
    fmt::print("{}", describeArtifact(*artifact));
    return 0;
  }

  TrainOptions t;
  SampleOptions g;
  GradCheckOptions c;
  bool smokeFp64 = false; // smoke only: c.fp64 is check-grad's (default true)
  BenchOptions bo;
  EvalOptions eo;
  CheckRefOptions cr;
  CheckDecodeOptions cd;
  std::vector<std::string> prompts, stops;
  double minP = 0, repeatPenalty = 1;
  int64_t repeatLastN = 64;
  int64_t decoderStart = -1; // generate: an encoder-decoder's first decoder token
  // --device: the engine of train, eval, generate, bench and check-ref.
  std::string device;
  // --cpu-matmul: the fast CPU backend's GEMM operands (fp32 or bf16).
  std::string cpuMatmul = "fp32";
  bool tolSet = false;
  bool precisionSet = false; // check-decode: --fp32 or --fp64 given
  struct {
    std::string arch = "sm_90a", function = "train_step", precision;
    int64_t batch = 8, seq = 64, freeMiB = 80 * 1024;
  } gp;
  for (int i = 3; i < argc; ++i) {
    std::string f = argv[i];
    auto value = [&]() -> const char * {
      if (i + 1 >= argc) {
        usageError("option " + f + " needs a value");
        std::exit(1);
      }
      return argv[++i];
    };
    auto intOpt = [&](int64_t &dst) {
      const char *v = value();
      if (!parseInt(v, dst)) {
        usageError("option " + f + " takes an integer, got '" + v + "'");
        std::exit(1);
      }
    };
    auto numOpt = [&](double &dst) {
      const char *v = value();
      if (!parseDouble(v, dst)) {
        usageError("option " + f + " takes a number, got '" + v + "'");
        std::exit(1);
      }
    };
    // Numbers with a range: a value outside it is refused, never replaced by
    // the recipe's (unset options are -1 inside TrainOptions and friends).
    auto numIn = [&](double &dst, double lo, bool loOpen, double hi, bool hiOpen) {
      numOpt(dst);
      bool ok = std::isfinite(dst) && (loOpen ? dst > lo : dst >= lo) &&
                (hiOpen ? dst < hi : dst <= hi);
      if (!ok) {
        std::string range = std::string(loOpen ? "(" : "[") + fmtNumber(lo) + ", " +
                            (std::isinf(hi) ? "inf" : fmtNumber(hi)) + (hiOpen ? ")" : "]");
        usageError("option " + f + " must be a number in " + range + ", got '" + argv[i] + "'");
        std::exit(1);
      }
    };
    auto positiveNum = [&](double &dst) { numIn(dst, 0, true, INFINITY, true); };
    auto nonNegativeNum = [&](double &dst) { numIn(dst, 0, false, INFINITY, true); };
    auto nonNegative = [&](int64_t &dst) {
      intOpt(dst);
      if (dst < 0) {
        usageError("option " + f + " must be at least 0, got " + std::to_string(dst));
        std::exit(1);
      }
    };
    auto positive = [&](int64_t &dst) {
      intOpt(dst);
      if (dst < 1) {
        usageError("option " + f + " must be at least 1, got " + std::to_string(dst));
        std::exit(1);
      }
    };
    int64_t seed;
    if (f == "--device" && (cmd == "train" || cmd == "eval" || cmd == "generate" ||
                            cmd == "bench" || cmd == "check-ref" || cmd == "check-decode")) {
      device = value();
      continue;
    }
    if (f == "--cpu-matmul" && (cmd == "train" || cmd == "eval" || cmd == "generate" ||
                                cmd == "bench" || cmd == "check-ref")) {
      cpuMatmul = value();
      if (cpuMatmul != "fp32" && cpuMatmul != "bf16")
        return usageError("--cpu-matmul takes fp32 or bf16, got '" + cpuMatmul + "'");
      continue;
    }
    // --threads: the CPU backends' threads (the kernels' pool and the BLAS
    // library's), for every command.
    if (f == "--threads") {
      int64_t n;
      positive(n);
      motif::cpu::setNumThreads(static_cast<int>(std::min<int64_t>(n, 1024)));
      continue;
    }
    if (cmd == "check-decode") {
      if (f == "--steps") nonNegative(cd.steps);
      else if (f == "--lengths") {
        cd.lengths.clear();
        std::string list = value();
        for (size_t at = 0; at <= list.size();) {
          size_t comma = std::min(list.find(',', at), list.size());
          int64_t n;
          if (!parseInt(list.substr(at, comma - at).c_str(), n) || n < 1)
            return usageError("--lengths takes positive integers separated by commas, got '" +
                              list + "'");
          cd.lengths.push_back(n);
          at = comma + 1;
        }
      }
      else if (f == "--source-lengths") {
        cd.sourceLengths.clear();
        std::string list = value();
        for (size_t at = 0; at <= list.size();) {
          size_t comma = std::min(list.find(',', at), list.size());
          int64_t n;
          if (!parseInt(list.substr(at, comma - at).c_str(), n) || n < 1)
            return usageError("--source-lengths takes positive integers separated by commas, "
                              "got '" + list + "'");
          cd.sourceLengths.push_back(n);
          at = comma + 1;
        }
      }
      else if (f == "--tol") nonNegativeNum(cd.tolerance);
      else if (f == "--fp32") { cd.fp64 = false; precisionSet = true; }
      else if (f == "--fp64") { cd.fp64 = true; precisionSet = true; }
      else if (f == "--seed") { intOpt(seed); cd.seed = static_cast<uint64_t>(seed); }
      else return usageError("unknown option '" + f + "' for check-decode");
    } else if (cmd == "check-ref") {
      if (f == "--function") cr.function = value();
      else if (f == "--batch") positive(cr.batch);
      else if (f == "--seq") positive(cr.seq);
      else if (f == "--tol") { nonNegativeNum(cr.tolerance); tolSet = true; }
      else if (f == "--seed") { intOpt(seed); cr.seed = static_cast<uint64_t>(seed); }
      else if (f == "--training") cr.training = true;
      else return usageError("unknown option '" + f + "' for check-ref");
    } else if (cmd == "gpu-plan") {
      if (f == "--arch") gp.arch = value();
      else if (f == "--function") gp.function = value();
      else if (f == "--precision") gp.precision = value();
      else if (f == "--batch") positive(gp.batch);
      else if (f == "--seq") positive(gp.seq);
      else if (f == "--free-mib") positive(gp.freeMiB);
      else return usageError("unknown option '" + f + "' for gpu-plan");
    } else if (cmd == "eval") {
      if (f == "--data") eo.data = value();
      else if (f == "--tokenizer") eo.tokenizer = value();
      else if (f == "--checkpoint") eo.checkpoint = value();
      else if (f == "--batch") positive(eo.batch);
      else if (f == "--seq") positive(eo.seq);
      else if (f == "--batches") positive(eo.batches);
      else if (f == "--objective") eo.objective = value();
      else if (f == "--source-seq") positive(eo.sourceSeq);
      else if (f == "--mask-token") nonNegative(eo.maskToken);
      else return usageError("unknown option '" + f + "' for eval");
    } else if (cmd == "bench") {
      if (f == "--function") bo.function = value();
      else if (f == "--batch") positive(bo.batch);
      else if (f == "--seq") positive(bo.seq);
      else if (f == "--steps") positive(bo.steps);
      else if (f == "--warmup") nonNegative(bo.warmup);
      else if (f == "--seed") { intOpt(seed); bo.seed = static_cast<uint64_t>(seed); }
      else if (f == "--no-cuda-graphs") bo.cudaGraphs = false;
      else return usageError("unknown option '" + f + "' for bench");
    } else if (cmd == "smoke") {
      if (f == "--batch") positive(c.batch);
      else if (f == "--seq") positive(c.seq);
      else if (f == "--seed") { intOpt(seed); c.seed = static_cast<uint64_t>(seed); }
      else if (f == "--fp64") smokeFp64 = true;
      else return usageError("unknown option '" + f + "' for smoke");
    } else if (cmd == "check-grad") {
      if (f == "--data") c.data = value();
      else if (f == "--batch") positive(c.batch);
      else if (f == "--seq") positive(c.seq);
      else if (f == "--eps") nonNegativeNum(c.epsilon);
      else if (f == "--tol") nonNegativeNum(c.tolerance);
      else if (f == "--fp32") c.fp64 = false;
      else if (f == "--training") c.training = true;
      else if (f == "--perturb-grad") c.perturb = value(); // tests the check
      else if (f == "--fp64") c.fp64 = true;
      else if (f == "--seed") { intOpt(seed); c.seed = static_cast<uint64_t>(seed); }
      else return usageError("unknown option '" + f + "' for check-grad");
    } else if (cmd == "train") {
      if (f == "--data") t.data = value();
      else if (f == "--tokenizer") t.tokenizer = value();
      else if (f == "--out") t.outDir = value();
      else if (f == "--resume") t.resume = value();
      else if (f == "--steps") positive(t.steps);
      else if (f == "--batch") positive(t.batch);
      else if (f == "--seq") positive(t.seq);
      else if (f == "--accumulate") positive(t.accumulate);
      else if (f == "--lr") positiveNum(t.lr);
      else if (f == "--clip") nonNegativeNum(t.clip);
      else if (f == "--weight-decay") nonNegativeNum(t.weightDecay);
      else if (f == "--optimizer") t.optimizer = value();
      else if (f == "--schedule") t.schedule = value();
      else if (f == "--warmup") nonNegative(t.warmup);
      else if (f == "--eval-every") positive(t.evalEvery);
      else if (f == "--eval-steps") positive(t.evalSteps);
      else if (f == "--checkpoint-every") positive(t.checkpointEvery);
      else if (f == "--keep") positive(t.keep);
      else if (f == "--val-fraction") numIn(t.valFraction, 0, true, 1, true);
      else if (f == "--objective") t.objective = value();
      else if (f == "--source-seq") positive(t.sourceSeq);
      else if (f == "--mask-rate") numIn(t.maskRate, 0, true, 1, false);
      else if (f == "--mask-token") nonNegative(t.maskToken);
      else if (f == "--seed") { intOpt(seed); t.seed = static_cast<uint64_t>(seed); }
      else if (f == "--nan-check") t.nanCheck = true;
      else if (f == "--no-cuda-graphs") t.cudaGraphs = false;
      else if (f == "--quiet") t.quiet = true;
      else if (f == "--allow-resume-changes") t.allowResumeChanges = true;
      else if (f == "--log-every") positive(t.logEvery);
      else if (f == "--grad-norms-every") nonNegative(t.gradNormsEvery);
      else return usageError("unknown option '" + f + "' for train");
    } else {
      if (f == "--checkpoint") g.checkpoint = value();
      else if (f == "--prompt") prompts.push_back(value());
      else if (f == "--tokenizer") g.tokenizer = value();
      else if (f == "--min-p") numIn(minP, 0, false, 1, false);
      else if (f == "--repeat-penalty") positiveNum(repeatPenalty);
      else if (f == "--repeat-last-n") nonNegative(repeatLastN);
      else if (f == "--stop") stops.push_back(value());
      else if (f == "--recompute") g.recompute = true;
      else if (f == "--decoder-start") nonNegative(decoderStart);
      else if (f == "--tokens") positive(g.tokens);
      else if (f == "--temp") nonNegativeNum(g.temperature);
      else if (f == "--top-k") nonNegative(g.topK);
      else if (f == "--top-p") numIn(g.topP, 0, true, 1, false);
      else if (f == "--context") nonNegative(g.context);
      else if (f == "--seed") { intOpt(seed); g.seed = static_cast<uint64_t>(seed); }
      else return usageError("unknown option '" + f + "' for generate");
    }
  }
  // The device: named, else the default; an unknown one is a usage error.
  // check-ref checks the reference backend unless a device is named.
  if (device.empty())
    device = cmd == "check-ref" ? "reference" : cmd == "check-decode" ? "cpu"
                                                                        : gpu::defaultDevice();
  // The devices compute in f32 (and bf16): check-decode there is fp32
  // unless --fp64 is asked for (which the device then refuses).
  if (cmd == "check-decode" && !precisionSet && !isHostDevice(device))
    cd.fp64 = false;
  if (!isHostDevice(device) && device != "sim" && device != "cuda")
    return usageError("unknown device '" + device +
                      "' for --device (choices: cpu, reference, sim, cuda)");
  t.device = g.device = bo.device = eo.device = cd.device = cr.device = device;
  if (cpuMatmul == "bf16") {
    if (device != "cpu")
      return usageError("--cpu-matmul bf16 is for --device cpu (the fast CPU backend), not '" +
                        device + "'");
    if (!motif::rt::fast::haveBf16Gemm())
      return usageError("--cpu-matmul bf16 needs a processor with bf16 matrix instructions "
                        "(AMX or AVX512-BF16) that oneDNN uses; this one has none: use fp32");
    motif::rt::fast::setGemmPrecision(motif::rt::fast::GemmPrecision::BF16);
  }
  if (cmd == "check-decode") {
    Status st = checkDecode(*artifact, cd, std::cout);
    if (!st.isOk()) {
      std::cout.flush();
      fmt::print(stderr, "motif-run: error: {}\n", st.message().c_str());
      return 1;
    }
    return 0;
  }
  if (cmd == "check-ref") {
    if (!tolSet && !isHostDevice(device))
      cr.tolerance = 3e-2;
    Status st = isHostDevice(device) ? checkReference(*artifact, cr, std::cout)
                                : gpu::checkDeviceReference(*artifact, cr, device, std::cout);
    if (!st.isOk()) {
      fmt::print(stderr, "motif-run: error: {}\n", st.message().c_str());
      return 1;
    }
    return 0;
  }
  if (cmd == "gpu-plan") {
    auto target = TargetInfo::parse(gp.arch);
    if (!target || !target->isGpu())
      return usageError("--arch takes sm_80, sm_86, sm_90a, ...; got '" + gp.arch + "'");
    int major = target->major(), minor = target->minor();
    auto fail = [](const std::string &m) {
      fmt::print(stderr, "motif-run: error: {}\n", m.c_str());
      return 1;
    };
    bool ptx = false;
    auto bin = gpu::pickBinary(*artifact, major, minor, &ptx);
    if (!bin.isOk())
      return fail(bin.status().message());
    fmt::print("device {} runs the {} of {}\n", gpu::archName(major, minor).c_str(),
               ptx ? "PTX" : "cubin", (*bin)->arch.c_str());
    const Function *fn = artifact->function(gp.function);
    if (!fn)
      return fail("the artifact has no function '" + gp.function + "'");
    gpu::Precision prec = gp.precision.empty() ? gpu::precisionOf(*artifact)
                          : gp.precision == "bf16" ? gpu::Precision::BF16
                                                   : gpu::Precision::F32;
    std::vector<Shape> shapes;
    for (int32_t a : fn->args) {
      Shape s = fn->valueShapes[a];
      for (size_t d = 0; d < s.size(); ++d)
        if (s[d] == kDynamic)
          s[d] = d == 0 ? gp.batch : gp.seq;
      shapes.push_back(s);
    }
    auto r = gpu::resolve(*artifact, *fn, shapes, prec);
    if (!r.isOk())
      return fail(r.status().message());
    int64_t paramBytes = parameterBytes(artifact->params).training();
    fmt::print("{} in {}: arena {} bytes, parameters and optimizer state {} bytes\n",
               gp.function.c_str(), prec == gpu::Precision::BF16 ? "bf16" : "fp32",
               static_cast<long long>(r->arena.peak), static_cast<long long>(paramBytes));
    if (r->arena.peak + paramBytes > gp.freeMiB * 1048576)
      return fail(gpu::outOfMemory(*fn, *r, paramBytes, gp.freeMiB * 1048576,
                                   "a device with " + std::to_string(gp.freeMiB) + " MiB free"));
    for (size_t i = 0; i < fn->plan.size(); ++i) {
      const PlanStep &s = fn->plan[i];
      if (s.kind != OpKind::Fused)
        continue;
      auto l = gpu::fusedLaunch(s, *r, prec, 132);
      if (!l.isOk())
        return fail(l.status().message());
      fmt::print("  step {}: {}<<<{}, {}>>> n={}", i, l->kernel.c_str(), l->grid, l->block,
                 static_cast<long long>(l->n));
      for (size_t k = 0; k < l->inputs.size(); ++k)
        fmt::print(" in%{}@{}", l->inputs[k],
                   static_cast<long long>(r->arena.offsets[l->inputs[k]]));
      for (int32_t o : l->outputs)
        fmt::print(" out%{}@{}", o, static_cast<long long>(r->arena.offsets[o]));
      for (int64_t m : l->mods)
        fmt::print(" mod={}", static_cast<long long>(m));
      fmt::print("\n");
    }
    return 0;
  }
  if (cmd == "eval") {
    if (eo.data.empty())
      return usageError("'eval' needs --data FILE");
    auto r = evaluate(*artifact, eo);
    if (!r.isOk()) {
      fmt::print(stderr, "motif-run: error: {}\n", r.status().message().c_str());
      return 1;
    }
    if (r->unit == "tokens")
      fmt::print("loss {:.4f} nats per token ({:.4f} bits) over {} tokens in {} batches\n",
                 r->loss, r->loss / 0.6931471805599453, static_cast<long long>(r->tokens),
                 static_cast<long long>(r->batches));
    else
      fmt::print("loss {:.4f} nats per example over {} examples in {} batches\n", r->loss,
                 static_cast<long long>(r->tokens), static_cast<long long>(r->batches));
    if (r->predicted > 0)
      fmt::print("accuracy {:.2f}% ({} of {} targets: the logits' argmax)\n",
                 100.0 * static_cast<double>(r->correct) / static_cast<double>(r->predicted),
                 r->correct, r->predicted);
    return 0;
  }
  if (cmd == "bench") {
    Status st = benchmark(*artifact, bo, std::cout);
    if (!st.isOk()) {
      fmt::print(stderr, "motif-run: error: {}\n", st.message().c_str());
      return 1;
    }
    return 0;
  }
  if (cmd == "smoke") {
    Status st = smokeStep(*artifact, c.batch, c.seq, c.seed, std::cout, smokeFp64);
    if (!st.isOk()) {
      fmt::print(stderr, "motif-run: error: {}\n", st.message().c_str());
      return 1;
    }
    return 0;
  }
  if (cmd == "check-grad") {
    Status st = checkGradients(*artifact, c, std::cout);
    if (!st.isOk()) {
      std::cout.flush(); // the error says "see above": keep it below the report
      fmt::print(stderr, "motif-run: error: {}\n", st.message().c_str());
      return 1;
    }
    return 0;
  }
  if (cmd == "train") {
    auto r = train(*artifact, t, std::cout);
    if (!r.isOk()) {
      fmt::print(stderr, "motif-run: error: {}\n", r.status().message().c_str());
      return 1;
    }
    fmt::print("final validation loss {:g}\n", *r);
    return 0;
  }
  if (g.checkpoint.empty())
    fmt::print(stderr, "motif-run: warning: no --checkpoint: sampling from the model's "
                       "randomly initialized weights\n");
  if (g.recompute) {
    if (!g.tokenizer.empty())
      return usageError("--recompute reads and writes bytes; it takes no --tokenizer");
    if (prompts.size() > 1 || !stops.empty() || minP > 0 || repeatPenalty != 1)
      return usageError("--recompute takes one --prompt and no --stop, --min-p or "
                        "--repeat-penalty");
    g.prompt = prompts.empty() ? "" : prompts.front();
    auto text = generate(*artifact, g);
    if (!text.isOk()) {
      fmt::print(stderr, "motif-run: error: {}\n", text.status().message().c_str());
      return 1;
    }
    fmt::print("{}{}\n", g.prompt, *text);
    return 0;
  }
  return runGenerate(*artifact, g, prompts, stops, minP, repeatPenalty, repeatLastN,
                     decoderStart);
}
} // namespace

int main(int argc, char **argv) {
  // Running out of memory is the machine's limit, not a bug: it is said so
  // (an uncaught std::bad_alloc would abort as a crash).
  try {
    return runCommand(argc, argv);
  } catch (const std::bad_alloc &) {
    fmt::print(stderr, "motif-run: error: out of memory: the model, batch or sequence "
                       "needs more memory than this machine has (motif-compile --report "
                       "lists what a plan holds)\n");
    return 1;
  }
}
