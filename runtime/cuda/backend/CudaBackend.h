//===- CudaBackend.h - The plan executor on a device -------------*- C++ -*-===//
//
// The CUDA backend: a motif::rt::Backend over a device (runtime/device/
// Device.h: a GPU through the driver, or the SIMT simulator) and a function
// resolved for concrete inputs (runtime/cuda/LaunchPlan.h, gpu::resolve):
// every value lives in the one arena at the compiler's offset, parameters in
// the device's parameter allocation, values outside both (function arguments
// the plan does not place) in allocations of their own. Generated kernels run
// through Device::launch as gpu::fusedLaunch says; the library kernels
// through the device's Library (Library.h: compiled by nvcc, or for the
// simulator); GEMMs through the Gemm that library makes (cuBLASLt, or the
// simulator's reference GEMM). An entry not implemented here keeps Backend's default,
// which fails naming the op and its .motif line.
//
// CudaRunner runs a function of an artifact on a device: parameters copied
// up once, inputs copied in, the steps run by runSteps (Backend.h) as the
// reference Executor runs them, results copied out. docs/gpu-backend.md.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CUDA_BACKEND_CUDABACKEND_H
#define MOTIF_RUNTIME_CUDA_BACKEND_CUDABACKEND_H

#include "runtime/cuda/LaunchPlan.h"
#include "runtime/device/Device.h"
#include "runtime/exec/Backend.h"
#include "runtime/exec/Executor.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace motif::rt::gpu {

class Gemm;
class Library;
namespace support {
class Workspace;
struct Scratch;
}

class CudaBackend final : public Backend {
public:
  /// `arena` holds r.arena.peak bytes; `params` maps each parameter's name
  /// to its device buffer (f32); `module` is the artifact's generated
  /// kernels loaded on `dev` (null when the function launches none); `lib`
  /// the kernel library of `dev`'s kind (libraryFor).
  CudaBackend(device::Device &dev, const Library &lib, device::Module module, const Function &f,
              Resolved r, Precision p, void *arena,
              const std::map<std::string, void *> &params);
  ~CudaBackend() override;

  std::string name() const override;

  Status runGetParam(const GetParamDesc &d, const PlanStep &s) override;
  Status runPositions(const PositionsDesc &d, const PlanStep &s) override;
  Status runEmbedding(const EmbeddingDesc &d, const PlanStep &s) override;
  Status runFused(const FusedDesc &d, const PlanStep &s) override;
  Status runLayerNorm(const LayerNormDesc &d, const PlanStep &s) override;
  Status runRmsNorm(const RmsNormDesc &d, const PlanStep &s) override;
  Status runAddNorm(const AddNormDesc &d, const PlanStep &s) override;
  Status runGemm(const rt::GemmDesc &d, const PlanStep &s) override;
  Status runKernelAttention(const KernelAttentionDesc &d, const PlanStep &s) override;
  Status runSplit(const SplitDesc &d, const PlanStep &s) override;
  Status runReshape(const ReshapeDesc &d, const PlanStep &s) override;
  Status runCrossEntropy(const CrossEntropyDesc &d, const PlanStep &s) override;

  // (the rest of GPT-2's, Llama's and Mistral's train_step)
  Status runZerosLike(const ZerosLikeDesc &d, const PlanStep &s) override;
  Status runRope(const RopeDesc &d, const PlanStep &s) override;
  Status runUnary(const UnaryDesc &d, const PlanStep &s) override;
  Status runKernelAttentionGrad(const KernelAttentionGradDesc &d, const PlanStep &s) override;
  Status runLinearCrossEntropy(const LinearCrossEntropyDesc &d, const PlanStep &s) override;
  Status vjpLayerNorm(const LayerNormDesc &d, const PlanStep &s) override;
  Status vjpRmsNorm(const RmsNormDesc &d, const PlanStep &s) override;
  Status vjpEmbedding(const EmbeddingDesc &d, const PlanStep &s) override;
  Status vjpSplit(const SplitDesc &d, const PlanStep &s) override;
  Status vjpRope(const RopeDesc &d, const PlanStep &s) override;
  Status vjpUnary(const UnaryDesc &d, const PlanStep &s) override;
  Status vjpBinary(const BinaryDesc &d, const PlanStep &s) override;
  // (CudaBackendLayout.cpp: the ops of BERT, ViT and T5)
  Status runConstant(const ConstantDesc &d, const PlanStep &s) override;
  Status runRandomNormal(const RandomNormalDesc &d, const PlanStep &s) override;
  Status vjpReshape(const ReshapeDesc &d, const PlanStep &s) override;
  Status runTranspose(const TransposeDesc &d, const PlanStep &s) override;
  Status vjpTranspose(const TransposeDesc &d, const PlanStep &s) override;
  Status runSlice(const SliceDesc &d, const PlanStep &s) override;
  Status vjpSlice(const SliceDesc &d, const PlanStep &s) override;
  Status runExpand(const ExpandDesc &d, const PlanStep &s) override;
  Status vjpExpand(const ExpandDesc &d, const PlanStep &s) override;
  Status runConcat(const ConcatDesc &d, const PlanStep &s) override;
  Status vjpConcat(const ConcatDesc &d, const PlanStep &s) override;
  Status runConv2d(const Conv2dDesc &d, const PlanStep &s) override;
  Status vjpConv2d(const Conv2dDesc &d, const PlanStep &s) override;
  Status vjpCrossEntropy(const CrossEntropyDesc &d, const PlanStep &s) override;
  Status runRelativePositionBias(const RelativePositionBiasDesc &d, const PlanStep &s) override;
  Status vjpRelativePositionBias(const RelativePositionBiasDesc &d, const PlanStep &s) override;
  // (CudaBackendMoe.cpp: grouped experts)
  Status runMoeRoute(const MoeRouteDesc &d, const PlanStep &s) override;
  Status vjpMoeRoute(const MoeRouteDesc &d, const PlanStep &s) override;
  Status runMoePermute(const MoePermuteDesc &d, const PlanStep &s) override;
  Status vjpMoePermute(const MoePermuteDesc &d, const PlanStep &s) override;
  Status runGroupedLinear(const GroupedLinearDesc &d, const PlanStep &s) override;
  Status vjpGroupedLinear(const GroupedLinearDesc &d, const PlanStep &s) override;
  Status runMoeCombine(const MoeCombineDesc &d, const PlanStep &s) override;
  Status vjpMoeCombine(const MoeCombineDesc &d, const PlanStep &s) override;
  // (CudaBackendScan.cpp: the scans, their step forms, conv1d, binary ops)
  Status runScan(const ScanDesc &d, const PlanStep &s) override;
  Status vjpScan(const ScanDesc &d, const PlanStep &s) override;
  Status runSelectiveScan(const SelectiveScanDesc &d, const PlanStep &s) override;
  Status vjpSelectiveScan(const SelectiveScanDesc &d, const PlanStep &s) override;
  Status runScanStep(const ScanStepDesc &d, const PlanStep &s) override;
  Status runSelectiveScanStep(const SelectiveScanStepDesc &d, const PlanStep &s) override;
  Status runSsd(const SsdDesc &d, const PlanStep &s) override;
  Status vjpSsd(const SsdDesc &d, const PlanStep &s) override;
  Status runSsdStep(const SsdStepDesc &d, const PlanStep &s) override;
  Status runConv1d(const Conv1dDesc &d, const PlanStep &s) override;
  // (CudaBackendRecurrent.cpp: the cell run step by step with these entries)
  Status runRecurrent(const RecurrentDesc &d, const PlanStep &s) override;
  Status runRecurrentStep(const RecurrentStepDesc &d, const PlanStep &s) override;
  Status runRecurrentVjp(const RecurrentVjpDesc &d, const PlanStep &s) override;
  Status vjpConv1d(const Conv1dDesc &d, const PlanStep &s) override;
  Status runBinary(const BinaryDesc &d, const PlanStep &s) override;
  // (CudaBackendDecode.cpp: the inference state, decode.cuh)
  Status runStateFill(const StateFillDesc &d, const PlanStep &s) override;
  Status runAttentionDecode(const AttentionDecodeDesc &d, const PlanStep &s) override;
  Status runConv1dStep(const Conv1dStepDesc &d, const PlanStep &s) override;
  Status runSelectiveScanState(const SelectiveScanStateDesc &d, const PlanStep &s) override;
  Status runSsdState(const SsdStateDesc &d, const PlanStep &s) override;
  // (CudaBackend.cpp: a tied table's gradient, embedding.cuh accumulating)
  Status runEmbeddingGradAdd(const EmbeddingGradAddDesc &d, const PlanStep &s) override;

  /// Results have the plan's shapes; with `nanCheck`, float results are
  /// copied to the host and scanned.
  Status checkResults(const PlanStep &s, bool nanCheck) override;
  /// Nothing to free: the arena is planned.
  void release(int32_t) override {}

  /// The device address of value `v` (null when it has none yet).
  void *pointer(int32_t v) const;
  const Resolved &resolved() const { return r_; }
  /// Values with no arena offset that this backend allocated (function
  /// arguments the plan does not place).
  Status allocateUnplaced();
  /// Binds value `v` to device buffer `p` (the caller's, which outlives the
  /// backend): how a one-step test places operands the plan does not.
  void bind(int32_t v, void *p) { ptr_[v] = p; }
  /// Binds argument `v` to device buffer `p` (the caller's, which outlives
  /// the backend), and with it every value the memory plan put in place of
  /// `v` (an in-place next state), so that a step updates `p` itself.
  void bindInput(int32_t v, void *p);
  /// kernel.attention_grad with a bias operand (T5's q, k, v, bias, out,
  /// lse, dout -> dq, dk, dv, dbias): the library's biased attention
  /// backward, any head dim. runKernelAttentionGrad should send such steps
  /// here (the tiled backward kernels take no bias).
  Status biasedAttentionGrad(const KernelAttentionGradDesc &d, const PlanStep &s);

  /// The stream every launch and copy of the backend goes to (null: the
  /// default stream).
  void setStream(device::Stream s);
  device::Stream stream() const { return stream_; }
  /// Keeps the workspace blocks and uploaded constants across runs of this
  /// backend (one shape), so that a later run can be captured in a graph:
  /// call startRun() before each run.
  void keepWorkspace();
  void startRun();
  /// Whether this run trains and the trainer's random step counter, copied
  /// to the device (where random_normal reads them, so that a captured
  /// graph draws each run's noise): call before each run.
  Status setRandomState(bool training, uint64_t rngOffset);

  /// The bf16 copies of the parameters by name (a device engine's, refreshed
  /// after each optimizer step): get_param of bf16 storage reads these.
  void setComputeParams(const std::map<std::string, void *> *bf16) { computeParams_ = bf16; }

private:
  /// The shape of value `v` as the plan resolved it, or an error naming it.
  StatusOr<Shape> shapeOf(int32_t v, const PlanStep &s) const;
  Status normForward(const PlanStep &s, bool rms, double eps, int32_t x, int32_t res,
                     int32_t w, int32_t b, int32_t y, int32_t sum);
  Status normBackward(const PlanStep &s, bool rms, double eps);
  Status rope(const RopeDesc &d, const PlanStep &s, int32_t x, int32_t positions, int32_t in,
              int32_t out, bool backward);
  /// The Gemm of the device, made on first use.
  StatusOr<Gemm *> gemm();
  /// kernel.attention with a bias operand (T5): the library's biased
  /// attention, any head dim.
  Status biasedAttention(const KernelAttentionDesc &d, const PlanStep &s);
  /// The backward of any binary op with any (numpy) broadcast: full-shape
  /// gradients, each broadcast operand's summed over its broadcast dims.
  Status binaryGrad(const BinaryDesc &d, const PlanStep &s);
  // (CudaBackendRecurrent.cpp) A region's values in workspace blocks for
  // the op's duration, and forgotten after it; rows t of a [B, T, C] value
  // to or from a [B, C] one; y = a + b; dst = src (zeros when src < 0).
  Status placeRegion(const PlanRegion &r, const PlanStep &s, int64_t batch,
                     std::vector<std::unique_ptr<support::Scratch>> &blocks);
  void unplaceRegion(const PlanRegion &r);
  Status stepRows(int32_t full, int32_t step, int64_t t, bool put, const PlanStep &s);
  Status addValues(int32_t a, int32_t b, int32_t y, const PlanStep &s);
  Status copyOrZero(int32_t src, int32_t dst, const PlanStep &s);

  device::Device &dev_;
  const Library &lib_;
  device::Module module_;
  const Function &f_;
  Resolved r_;
  Precision precision_;
  char *arena_;
  const std::map<std::string, void *> &params_;
  std::vector<void *> ptr_;  // by value
  std::vector<void *> owned_; // allocations of unplaced values
  std::unique_ptr<Gemm> gemm_;
  const std::map<std::string, void *> *computeParams_ = nullptr;
  /// setRandomState's values: on the host (the copy's source) and the device.
  uint64_t randomHost_[2] = {0, 0};
  uint64_t *randomState_ = nullptr;
  device::Stream stream_ = nullptr;
  std::unique_ptr<support::Workspace> ws_;
};

/// Runs functions of an artifact on a device: the parameters (f32) copied up
/// once from host tensors, the generated kernels loaded once.
class CudaRunner {
public:
  static StatusOr<std::unique_ptr<CudaRunner>>
  create(device::Device &dev, const Artifact &a, const std::map<std::string, Tensor> &params);
  ~CudaRunner();

  /// Runs function `name` on `inputs` (argument order, host tensors as the
  /// reference Executor takes them); results (f32 or int32 host tensors) in
  /// function order. Errors name the step's op and its .motif line.
  Status run(const std::string &name, const std::vector<Tensor> &inputs,
             std::vector<Tensor> &results);

  /// Fail on the first step that makes a NaN or an infinity.
  bool nanCheck = false;
  /// Whether runs train (random_normal draws; zeros otherwise) and the
  /// trainer's random step counter (the reference Executor's rngOffset).
  bool training = false;
  uint64_t rngOffset = 0;

  /// A runner over parameters a device engine owns: `params` (f32 masters)
  /// and `computeParams` (bf16 copies, possibly empty) by name, left to the
  /// caller to free.
  static StatusOr<std::unique_ptr<CudaRunner>>
  createOver(device::Device &dev, const Artifact &a, std::map<std::string, void *> params,
             std::map<std::string, void *> computeParams);
  /// Called after each step (check-ref compares its results there).
  std::function<Status(size_t, const PlanStep &, CudaBackend &)> afterStep;
  /// Called after the last step with the results still on the device; with
  /// `copyResults` false, run() leaves `results` empty (a training step keeps
  /// its gradients on the device).
  std::function<Status(CudaBackend &)> onResults;
  bool copyResults = true;
  /// Inputs already on the device, by argument (null, or past the end:
  /// copied from run()'s host tensor, of which only the shape is read
  /// otherwise): bound, never copied, and updated in place where the plan
  /// says so (the inference state between decode steps).
  std::vector<void *> deviceInputs;
  /// Results left on the device, by result (null: copied to the host): each
  /// goes into this buffer of deviceResultBytes bytes (a device-to-device
  /// copy, part of the captured work, unless the plan already put it there);
  /// its host tensor has the shape and no data.
  std::vector<void *> deviceResults;
  std::vector<size_t> deviceResultBytes;
  /// Called after the steps and onResults, never captured in a graph (work
  /// that differs between runs of one shape, e.g. where a loss is kept).
  std::function<Status(CudaBackend &)> afterRun;
  /// The arena bytes of the last run.
  int64_t lastArenaBytes() const { return lastArena_; }

  /// The stream the runner's copies and launches go to (null: the default
  /// stream); graphs need one of Device::createStream.
  void setStream(device::Stream s) { stream_ = s; }
  device::Stream stream() const { return stream_; }
  /// CUDA graphs: a function's backend is kept per set of input shapes (its
  /// workspace, constants and input buffers allocated by the first run); the
  /// second run at those shapes captures the steps and onResults' work in a
  /// graph, and every later run copies the inputs in and replays it. Off
  /// while nanCheck or afterStep is set (they work on the host per step).
  bool graphs = false;
  struct GraphStats {
    int64_t captures = 0, replays = 0;
  } graphStats;
  /// Destroys the graphs and kept backends (after the parameters moved, or
  /// to free their memory).
  void clearGraphs();

private:
  CudaRunner(device::Device &dev, const Library &lib, const Artifact &a)
      : dev_(dev), lib_(lib), a_(a) {}
  device::Device &dev_;
  const Library &lib_;
  const Artifact &a_;
  device::Module module_ = nullptr;
  std::map<std::string, void *> params_;
  std::map<std::string, void *> computeParams_;
  int64_t lastArena_ = 0;
  device::Stream stream_ = nullptr;
  /// A backend kept for one function at one set of input shapes (graphs
  /// on): its workspace, constants and input buffers stay, and from its
  /// second run on its steps run as a graph.
  struct Kept {
    std::unique_ptr<CudaBackend> backend;
    void *arena = nullptr;
    int64_t runs = 0;
    device::Graph graph = nullptr;
    device::GraphExec exec = nullptr;
  };
  void dropGraph(Kept &k);
  std::map<std::string, std::unique_ptr<Kept>> kept_;
};

} // namespace motif::rt::gpu

#endif // MOTIF_RUNTIME_CUDA_BACKEND_CUDABACKEND_H
