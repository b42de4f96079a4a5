//===- HfImport.cpp - Hugging Face config.json + safetensors importer -----===//
//
// One plan per family: from config.json, the .motif source and the list of
// parameters (Motif name, Hugging Face name, Motif shape, whether the stored
// weight is transposed). Import and export both walk that list.
//
//===----------------------------------------------------------------------===//
#include "frontends/hf/HfImport.h"

#include "runtime/core/Json.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <sys/stat.h>

using namespace motif;
using namespace motif::hf;
using rt::Json;
using rt::Status;
using rt::StatusOr;

namespace {

struct Param {
  std::string motif, hf;
  std::vector<int64_t> shape; // Motif's ([out, in] for a linear weight)
  bool transpose = false;     // stored [in, out] (GPT-2's Conv1D)
  /// Experts stored one tensor each (Mixtral's experts.{j}.w1): the Motif
  /// tensor stacks them along a leading [experts] dim; `hf` is then unused.
  std::vector<std::string> stack;
};

struct Plan {
  std::string family, source;
  std::vector<Param> params;
  std::string hfPrefix;                 // "model." / "transformer."
  std::set<std::string> ignoredBuffers; // HF tensors that are buffers, not weights
  std::string tiedHead;                 // HF name of a head tied to the embedding
};

/// Reads config.json values, remembering which keys were read.
class Config {
public:
  explicit Config(const Json &root) : root(root) {}
  const Json *raw(const std::string &k) {
    used.insert(k);
    return root.get(k);
  }
  bool has(const std::string &k) {
    const Json *j = raw(k);
    return j && !j->isNull();
  }
  StatusOr<int64_t> integer(const std::string &k) {
    const Json *j = raw(k);
    if (!j || j->kind != Json::Num)
      return Status::error("config.json lacks the integer '" + k + "'");
    return static_cast<int64_t>(j->num);
  }
  int64_t integerOr(const std::string &k, int64_t dflt) {
    const Json *j = raw(k);
    return j && j->kind == Json::Num ? static_cast<int64_t>(j->num) : dflt;
  }
  double numberOr(const std::string &k, double dflt) {
    const Json *j = raw(k);
    return j && j->kind == Json::Num ? j->num : dflt;
  }
  bool boolOr(const std::string &k, bool dflt) {
    const Json *j = raw(k);
    return j && j->kind == Json::Bool ? j->boolean : dflt;
  }
  std::string stringOr(const std::string &k, const std::string &dflt) {
    const Json *j = raw(k);
    return j && j->kind == Json::Str ? j->str : dflt;
  }
  /// Keys nobody read, minus those that never change the computation.
  std::vector<std::string> unread() const {
    static const std::set<std::string> harmless = {
        "architectures", "model_type", "dtype", "torch_dtype", "transformers_version",
        "bos_token_id", "eos_token_id", "pad_token_id", "use_cache", "initializer_range",
        "attention_dropout", "attn_pdrop", "embd_pdrop", "resid_pdrop", "summary_activation",
        "summary_first_dropout", "summary_proj_to_labels", "summary_type", "summary_use_proj",
        "pretraining_tp", "reorder_and_upcast_attn", "_name_or_path", "output_attentions",
        "output_hidden_states", "return_dict", "task_specific_params", "id2label", "label2id",
        "max_window_layers", "layer_types", "bos_token", "eos_token", "name_or_path"};
    std::vector<std::string> out;
    for (const auto &[k, v] : root.obj)
      if (!used.count(k) && !harmless.count(k))
        out.push_back(k);
    return out;
  }

private:
  const Json &root;
  std::set<std::string> used;
};

/// The shortest text that reads back as `v`, always with a '.' or exponent.
std::string number(double v) {
  char buf[40];
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*g", p, v);
    if (std::strtod(buf, nullptr) == v)
      break;
  }
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos)
    s += ".0";
  return s;
}

#define TRY_INT(var, cfg, key)                                                               \
  int64_t var;                                                                               \
  {                                                                                          \
    auto _v = (cfg).integer(key);                                                            \
    if (!_v.isOk())                                                                          \
      return _v.status();                                                                    \
    var = *_v;                                                                               \
  }

Status unsupported(const std::string &what) {
  return Status::error("unsupported configuration: " + what);
}

StatusOr<Plan> planGpt2(Config &c, const std::string &name) {
  TRY_INT(vocab, c, "vocab_size");
  TRY_INT(ctx, c, "n_positions");
  TRY_INT(d, c, "n_embd");
  TRY_INT(layers, c, "n_layer");
  TRY_INT(heads, c, "n_head");
  int64_t inner = c.integerOr("n_inner", 4 * d);
  double eps = c.numberOr("layer_norm_epsilon", 1e-5);
  std::string act = c.stringOr("activation_function", "gelu_new");
  if (act != "gelu_new")
    return unsupported("activation_function '" + act + "' (GPT-2 import reads gelu_new)");
  if (c.boolOr("scale_attn_by_inverse_layer_idx", false))
    return unsupported("scale_attn_by_inverse_layer_idx");
  if (!c.boolOr("scale_attn_weights", true))
    return unsupported("scale_attn_weights = false");
  if (c.boolOr("add_cross_attention", false))
    return unsupported("add_cross_attention");
  if (!c.boolOr("tie_word_embeddings", true))
    return unsupported("GPT-2 with an untied head");
  if (d % heads)
    return unsupported("n_embd not a multiple of n_head");
  c.raw("n_ctx");
  Plan p;
  p.family = "gpt2";
  p.hfPrefix = "transformer.";
  p.tiedHead = "lm_head.weight";
  std::ostringstream s;
  s << "model " << name << "(vocab: int = " << vocab << ", ctx: int = " << ctx
    << ", d: int = " << d << ", layers: int = " << layers << ", heads: int = " << heads
    << ",\n    inner: int = " << inner << ", eps: float = " << number(eps) << ") {\n"
    << "  input tokens: i32[B, T]\n  input targets: i32[B, T]\n\n"
    << "  x = embedding(tokens, vocab, d) as wte\n"
    << "  x += embedding(positions(tokens), ctx, d) as wpe\n"
    << "  repeat i in 0..layers as h {\n"
    << "    x += causal_self_attention(layer_norm(x, eps = eps) as ln_1, heads) as attn\n"
    << "    x += mlp(layer_norm(x, eps = eps) as ln_2, inner, act = \"gelu_tanh\") as mlp\n"
    << "  }\n"
    << "  x = layer_norm(x, eps = eps) as ln_f\n"
    << "  logits = linear(x, vocab, bias = false, weight = wte.weight) as lm_head\n\n"
    << "  output logits\n  loss cross_entropy(logits, targets)\n}\n";
  p.source = s.str();
  auto add = [&](const std::string &n, std::vector<int64_t> shape, bool t = false) {
    p.params.push_back({n, n, std::move(shape), t});
  };
  add("wte.weight", {vocab, d});
  add("wpe.weight", {ctx, d});
  for (int64_t i = 0; i < layers; ++i) {
    std::string h = "h." + std::to_string(i) + ".";
    add(h + "ln_1.weight", {d});
    add(h + "ln_1.bias", {d});
    add(h + "attn.c_attn.weight", {3 * d, d}, true);
    add(h + "attn.c_attn.bias", {3 * d});
    add(h + "attn.c_proj.weight", {d, d}, true);
    add(h + "attn.c_proj.bias", {d});
    add(h + "ln_2.weight", {d});
    add(h + "ln_2.bias", {d});
    add(h + "mlp.c_fc.weight", {inner, d}, true);
    add(h + "mlp.c_fc.bias", {inner});
    add(h + "mlp.c_proj.weight", {d, inner}, true);
    add(h + "mlp.c_proj.bias", {d});
    p.ignoredBuffers.insert(h + "attn.bias");
    p.ignoredBuffers.insert(h + "attn.masked_bias");
  }
  add("ln_f.weight", {d});
  add("ln_f.bias", {d});
  return p;
}

/// Llama, Mistral and Qwen2: RMSNorm pre-norm, RoPE, grouped-query attention
/// (q/k/v biases in Qwen2), SwiGLU; a sliding window in Mistral.
StatusOr<Plan> planLlama(Config &c, const std::string &family, const std::string &name) {
  TRY_INT(vocab, c, "vocab_size");
  TRY_INT(d, c, "hidden_size");
  TRY_INT(layers, c, "num_hidden_layers");
  TRY_INT(heads, c, "num_attention_heads");
  TRY_INT(hidden, c, "intermediate_size");
  int64_t kvHeads = c.integerOr("num_key_value_heads", heads);
  double eps = c.numberOr("rms_norm_eps", 1e-6);
  c.raw("max_position_embeddings");
  if (d % heads || heads % kvHeads)
    return unsupported("hidden_size " + std::to_string(d) + " with " + std::to_string(heads) +
                       " heads and " + std::to_string(kvHeads) + " key/value heads");
  if (c.has("head_dim") && c.integerOr("head_dim", 0) != d / heads)
    return unsupported("head_dim " + std::to_string(c.integerOr("head_dim", 0)) +
                       " other than hidden_size / num_attention_heads (" +
                       std::to_string(d / heads) + ")");
  std::string act = c.stringOr("hidden_act", "silu");
  if (act != "silu")
    return unsupported("hidden_act '" + act + "' (SwiGLU with silu is read)");
  if (c.boolOr("mlp_bias", false))
    return unsupported("mlp_bias");
  // RoPE: transformers 5 writes rope_parameters, earlier versions rope_theta
  // and rope_scaling. Unscaled RoPE and Llama 3.1's scaling are read.
  double theta = c.numberOr("rope_theta", 10000.0);
  std::string ropeType = "default";
  const Json *scaling = nullptr; // the object holding the scaling's values
  if (const Json *rp = c.raw("rope_parameters"); rp && rp->kind == Json::Obj) {
    if (const Json *t = rp->get("rope_theta"))
      theta = t->num;
    if (const Json *t = rp->get("rope_type"))
      ropeType = t->str;
    scaling = rp;
  }
  if (const Json *rs = c.raw("rope_scaling"); rs && rs->kind == Json::Obj) {
    const Json *t = rs->get("rope_type") ? rs->get("rope_type") : rs->get("type");
    ropeType = t ? t->str : "?";
    scaling = rs;
  }
  // The rope's scaling arguments in the .motif source (none when unscaled).
  std::string ropeArgs;
  if (ropeType == "llama3") {
    auto value = [&](const char *key) -> std::optional<double> {
      const Json *v = scaling->get(key);
      if (!v || v->kind != Json::Num)
        return std::nullopt;
      return v->num;
    };
    auto factor = value("factor"), low = value("low_freq_factor"),
         high = value("high_freq_factor"), original = value("original_max_position_embeddings");
    if (!factor || !low || !high || !original)
      return Status::error("config.json: rope scaling 'llama3' needs factor, low_freq_factor, "
                           "high_freq_factor and original_max_position_embeddings (numbers)");
    if (!(*factor >= 1) || !(*low > 0) || !(*high > *low) || !(*original >= 1))
      return Status::error("config.json: rope scaling 'llama3' needs factor >= 1, "
                           "0 < low_freq_factor < high_freq_factor and "
                           "original_max_position_embeddings >= 1");
    ropeArgs = ", scaling = \"llama3\", factor = " + number(*factor) +
               ", original_ctx = " + std::to_string(static_cast<int64_t>(*original)) +
               ", low_freq_factor = " + number(*low) + ", high_freq_factor = " + number(*high);
  } else if (ropeType != "default") {
    return unsupported("rope scaling '" + ropeType + "' (default and llama3 are read)");
  }
  bool qkvBias = family == "qwen2" || c.boolOr("attention_bias", false);
  bool oBias = family != "qwen2" && c.boolOr("attention_bias", false);
  int64_t window = 0;
  if (family == "mistral") {
    window = c.integerOr("sliding_window", 0);
  } else if (family == "qwen2") {
    c.raw("sliding_window");
    if (c.boolOr("use_sliding_window", false))
      return unsupported("use_sliding_window in Qwen2 (windows on some layers only)");
  }
  bool tied = c.boolOr("tie_word_embeddings", false);
  int64_t experts = 0, topK = 0;
  double auxLoss = 0;
  if (family == "mixtral") {
    auto e = c.integer("num_local_experts");
    auto k = c.integer("num_experts_per_tok");
    if (!e.isOk() || !k.isOk())
      return !e.isOk() ? e.status() : k.status();
    experts = *e;
    topK = *k;
    auxLoss = c.numberOr("router_aux_loss_coef", 0.001);
    if (c.numberOr("router_jitter_noise", 0.0) != 0.0)
      return unsupported("router_jitter_noise (Motif's top-k router adds no noise)");
    c.raw("output_router_logits");
    window = c.integerOr("sliding_window", 0);
  }

  Plan p;
  p.family = family;
  p.hfPrefix = "model.";
  if (tied)
    p.tiedHead = "lm_head.weight";
  std::ostringstream s;
  s << "block hf_attention(x, heads: int, kv_heads: int, theta: float, window: int,\n"
    << "                   qkv_bias: bool, o_bias: bool) {\n"
    << "  d = dim(x, -1)\n  hd = d / heads\n"
    << "  q = rope(linear(x, heads * hd, bias = qkv_bias) as q_proj, heads, theta = theta"
    << ropeArgs << ")\n"
    << "  k = rope(linear(x, kv_heads * hd, bias = qkv_bias) as k_proj, kv_heads, theta = theta"
    << ropeArgs << ")\n"
    << "  v = linear(x, kv_heads * hd, bias = qkv_bias) as v_proj\n"
    << "  o = attention(q, k, v, heads, kv_heads = kv_heads, window = window)\n"
    << "  return linear(o, d, bias = o_bias) as o_proj\n}\n\n"
    << "block hf_mlp(x, hidden: int) {\n"
    << "  gate = silu(linear(x, hidden, bias = false) as gate_proj)\n"
    << "  up = linear(x, hidden, bias = false) as up_proj\n"
    << "  return linear(gate * up, dim(x, -1), bias = false) as down_proj\n}\n\n";
  if (experts)
    s << "# One expert, under Mixtral's names (w1 gate, w3 up, w2 down).\n"
      << "block hf_experts(x, hidden: int) {\n"
      << "  gate = silu(linear(x, hidden, bias = false) as w1)\n"
      << "  up = linear(x, hidden, bias = false) as w3\n"
      << "  return linear(gate * up, dim(x, -1), bias = false) as w2\n}\n\n";
  s << "model " << name << "(vocab: int = " << vocab << ", d: int = " << d
    << ", layers: int = " << layers << ", heads: int = " << heads
    << ",\n    kv_heads: int = " << kvHeads << ", hidden: int = " << hidden
    << ", eps: float = " << number(eps) << ", theta: float = " << number(theta)
    << ",\n    window: int = " << window;
  if (experts)
    s << ", experts: int = " << experts << ", top_k: int = " << topK
      << ", aux_loss: float = " << number(auxLoss);
  s << ") {\n"
    << "  input tokens: i32[B, T]\n  input targets: i32[B, T]\n\n"
    << "  x = embedding(tokens, vocab, d) as embed_tokens\n"
    << "  repeat i in 0..layers as layers {\n"
    << "    x += hf_attention(rms_norm(x, eps = eps) as input_layernorm, heads, kv_heads,\n"
    << "                      theta, window, " << (qkvBias ? "true" : "false") << ", "
    << (oBias ? "true" : "false") << ") as self_attn\n"
    << (experts ? "    x += moe(rms_norm(x, eps = eps) as post_attention_layernorm,\n"
                  "             |t| hf_experts(t, hidden), experts, top_k = top_k,\n"
                  "             aux_loss = aux_loss) as block_sparse_moe\n"
                : "    x += hf_mlp(rms_norm(x, eps = eps) as post_attention_layernorm, hidden) as mlp\n")
    << "  }\n"
    << "  x = rms_norm(x, eps = eps) as norm\n"
    << "  logits = linear(x, vocab, bias = false"
    << (tied ? ", weight = embed_tokens.weight" : "") << ") as lm_head\n\n"
    << "  output logits\n  loss cross_entropy(logits, targets)\n}\n";
  p.source = s.str();
  int64_t hd = d / heads;
  auto add = [&](const std::string &n, std::vector<int64_t> shape) {
    p.params.push_back({n, n, std::move(shape), false});
  };
  add("embed_tokens.weight", {vocab, d});
  for (int64_t i = 0; i < layers; ++i) {
    std::string l = "layers." + std::to_string(i) + ".";
    add(l + "input_layernorm.weight", {d});
    add(l + "self_attn.q_proj.weight", {heads * hd, d});
    add(l + "self_attn.k_proj.weight", {kvHeads * hd, d});
    add(l + "self_attn.v_proj.weight", {kvHeads * hd, d});
    if (qkvBias) {
      add(l + "self_attn.q_proj.bias", {heads * hd});
      add(l + "self_attn.k_proj.bias", {kvHeads * hd});
      add(l + "self_attn.v_proj.bias", {kvHeads * hd});
    }
    add(l + "self_attn.o_proj.weight", {d, heads * hd});
    if (oBias)
      add(l + "self_attn.o_proj.bias", {d});
    add(l + "post_attention_layernorm.weight", {d});
    if (experts) {
      // Motif's router and stacked experts from Mixtral's gate and per-expert tensors.
      std::string m = l + "block_sparse_moe.";
      p.params.push_back({m + "router.weight", m + "gate.weight", {experts, d}, false, {}});
      for (const char *w : {"w1", "w3", "w2"}) {
        Param q{m + "experts." + w + ".weight", "", {experts, hidden, d}, false, {}};
        if (std::string(w) == "w2")
          q.shape = {experts, d, hidden};
        for (int64_t j = 0; j < experts; ++j)
          q.stack.push_back(m + "experts." + std::to_string(j) + "." + w + ".weight");
        p.params.push_back(std::move(q));
      }
    } else {
      add(l + "mlp.gate_proj.weight", {hidden, d});
      add(l + "mlp.up_proj.weight", {hidden, d});
      add(l + "mlp.down_proj.weight", {d, hidden});
    }
    p.ignoredBuffers.insert(l + "self_attn.rotary_emb.inv_freq");
  }
  add("norm.weight", {d});
  if (!tied)
    p.params.push_back({"lm_head.weight", "lm_head.weight", {vocab, d}, false});
  // The head is not under the "model." prefix.
  for (Param &q : p.params) {
    if (q.hf != "lm_head.weight" && !q.hf.empty())
      q.hf = p.hfPrefix + q.hf;
    for (std::string &n : q.stack)
      n = p.hfPrefix + n;
  }
  p.hfPrefix.clear();
  return p;
}

/// Mamba (Gu and Dao, 2023): Motif's mamba_mixer names its parameters as
/// MambaForCausalLM does under "backbone.".
StatusOr<Plan> planMamba(Config &c, const std::string &name) {
  TRY_INT(vocab, c, "vocab_size");
  TRY_INT(d, c, "hidden_size");
  TRY_INT(layers, c, "num_hidden_layers");
  int64_t dState = c.integerOr("state_size", 16), dConv = c.integerOr("conv_kernel", 4);
  int64_t expand = c.integerOr("expand", 2);
  double eps = c.numberOr("layer_norm_epsilon", 1e-5);
  int64_t inner = c.integerOr("intermediate_size", expand * d);
  if (inner != expand * d)
    return unsupported("intermediate_size " + std::to_string(inner) + " other than expand * "
                       "hidden_size");
  int64_t rank = (d + 15) / 16;
  if (const Json *r = c.raw("time_step_rank"); r && r->kind == Json::Num)
    rank = static_cast<int64_t>(r->num);
  if (c.boolOr("use_bias", false))
    return unsupported("use_bias (biases on in_proj and out_proj)");
  if (!c.boolOr("use_conv_bias", true))
    return unsupported("use_conv_bias = false");
  std::string act = c.stringOr("hidden_act", "silu");
  if (act != "silu")
    return unsupported("hidden_act '" + act + "'");
  for (const char *k : {"residual_in_fp32", "rescale_prenorm_residual", "time_step_floor",
                        "time_step_init_scheme", "time_step_max", "time_step_min",
                        "time_step_scale", "use_associative_scan", "use_mambapy", "n_layer"})
    c.raw(k); // precision of the residual, initialisation, the scan's implementation
  bool tied = c.boolOr("tie_word_embeddings", true);
  Plan p;
  p.family = "mamba";
  p.hfPrefix = "backbone.";
  if (tied)
    p.tiedHead = "lm_head.weight";
  std::ostringstream s;
  s << "model " << name << "(vocab: int = " << vocab << ", d: int = " << d
    << ", layers: int = " << layers << ", d_state: int = " << dState
    << ",\n    d_conv: int = " << dConv << ", expand: int = " << expand
    << ", dt_rank: int = " << rank << ", eps: float = " << number(eps) << ") {\n"
    << "  input tokens: i32[B, T]\n  input targets: i32[B, T]\n\n"
    << "  x = embedding(tokens, vocab, d) as embeddings\n"
    << "  repeat i in 0..layers as layers {\n"
    << "    x += mamba_mixer(rms_norm(x, eps = eps) as norm, d_state = d_state,\n"
    << "                     d_conv = d_conv, expand = expand, dt_rank = dt_rank) as mixer\n"
    << "  }\n"
    << "  x = rms_norm(x, eps = eps) as norm_f\n"
    << "  logits = linear(x, vocab, bias = false"
    << (tied ? ", weight = embeddings.weight" : "") << ") as lm_head\n\n"
    << "  output logits\n  loss cross_entropy(logits, targets)\n}\n";
  p.source = s.str();
  auto add = [&](const std::string &n, std::vector<int64_t> shape) {
    p.params.push_back({n, n, std::move(shape), false, {}});
  };
  add("embeddings.weight", {vocab, d});
  for (int64_t i = 0; i < layers; ++i) {
    std::string l = "layers." + std::to_string(i) + ".";
    add(l + "norm.weight", {d});
    add(l + "mixer.in_proj.weight", {2 * inner, d});
    add(l + "mixer.conv1d.weight", {inner, 1, dConv});
    add(l + "mixer.conv1d.bias", {inner});
    add(l + "mixer.x_proj.weight", {rank + 2 * dState, inner});
    add(l + "mixer.dt_proj.weight", {inner, rank});
    add(l + "mixer.dt_proj.bias", {inner});
    add(l + "mixer.A_log", {inner, dState});
    add(l + "mixer.D", {inner});
    add(l + "mixer.out_proj.weight", {d, inner});
  }
  add("norm_f.weight", {d});
  if (!tied)
    p.params.push_back({"lm_head.weight", "lm_head.weight", {vocab, d}, false, {}});
  for (Param &q : p.params)
    if (q.hf != "lm_head.weight")
      q.hf = p.hfPrefix + q.hf;
  p.hfPrefix.clear();
  return p;
}

std::string readText(const std::string &path, Status &st) {
  std::ifstream is(path, std::ios::binary);
  if (!is) {
    st = Status::error("cannot open '" + path + "': " + std::strerror(errno));
    return "";
  }
  std::ostringstream ss;
  ss << is.rdbuf();
  return ss.str();
}

StatusOr<Plan> planFor(const std::string &dir, const std::string &name,
                       std::vector<std::string> *unread, Json &root) {
  Status st;
  std::string text = readText(dir + "/config.json", st);
  if (!st)
    return st;
  std::string err;
  if (!rt::parseJson(text, root, err, "config.json") || root.kind != Json::Obj)
    return Status::error("'" + dir + "/config.json': " + (err.empty() ? "not an object" : err));
  Config c(root);
  std::string type = c.stringOr("model_type", "");
  StatusOr<Plan> p = Status::error("");
  if (type == "gpt2")
    p = planGpt2(c, name);
  else if (type == "llama" || type == "mistral" || type == "qwen2" || type == "mixtral")
    p = planLlama(c, type, name);
  else if (type == "mamba")
    p = planMamba(c, name);
  else
    return Status::error("'" + dir + "/config.json': model_type '" + type +
                         "' is not imported (gpt2, llama, mistral, qwen2, mixtral, mamba are; "
                         "docs/hf-import.md)");
  if (!p.isOk())
    return Status::error("'" + dir + "/config.json': " + p.status().message());
  if (unread)
    *unread = c.unread();
  return p;
}

std::string shapeText(const std::vector<int64_t> &s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i)
    t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

/// [r, c] -> [c, r].
std::vector<float> transposed(const std::vector<float> &v, int64_t r, int64_t c) {
  std::vector<float> out(v.size());
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j)
      out[j * r + i] = v[i * c + j];
  return out;
}

} // namespace

StatusOr<ImportResult> motif::hf::importDirectory(const std::string &dir,
                                                  const std::string &modelName) {
  ImportResult r;
  std::vector<std::string> unread;
  Json root;
  auto plan = planFor(dir, modelName, &unread, root);
  if (!plan.isOk())
    return plan.status();
  r.family = plan->family;
  r.source = "# Imported from the Hugging Face model in " + dir + " (" + plan->family +
             ") by motif-import.\n\n" + plan->source;
  for (const std::string &k : unread)
    r.notes.push_back("config key '" + k + "' is not read by the importer");

  auto ck = rt::loadCheckpoint(dir);
  if (!ck.isOk())
    return ck.status();
  // HF names, with the family's prefix taken off where present.
  std::map<std::string, const rt::Checkpoint::Tensor *> byName;
  for (const auto &[n, t] : ck->tensors) {
    std::string key = n;
    if (!plan->hfPrefix.empty() && key.compare(0, plan->hfPrefix.size(), plan->hfPrefix) == 0)
      key = key.substr(plan->hfPrefix.size());
    byName[key] = &t;
  }
  std::vector<std::string> missing, misShaped, unmapped;
  std::set<std::string> used;
  for (const Param &p : plan->params) {
    if (!p.stack.empty()) {
      rt::Checkpoint::Tensor t;
      t.shape = p.shape;
      std::vector<int64_t> part(p.shape.begin() + 1, p.shape.end());
      bool ok = true;
      for (const std::string &n : p.stack) {
        auto it = byName.find(n);
        if (it == byName.end()) {
          missing.push_back(n + " " + shapeText(part));
          ok = false;
          continue;
        }
        used.insert(n);
        if (it->second->shape != part) {
          misShaped.push_back(n + " is " + shapeText(it->second->shape) + ", expected " +
                              shapeText(part));
          ok = false;
          continue;
        }
        t.data.insert(t.data.end(), it->second->data.begin(), it->second->data.end());
      }
      if (ok)
        r.checkpoint.tensors.emplace_back(p.motif, std::move(t));
      continue;
    }
    auto it = byName.find(p.hf);
    if (it == byName.end()) {
      missing.push_back(p.hf + " " + shapeText(p.shape));
      continue;
    }
    used.insert(p.hf);
    std::vector<int64_t> want = p.shape;
    if (p.transpose)
      std::swap(want[0], want[1]);
    if (it->second->shape != want) {
      misShaped.push_back(p.hf + " is " + shapeText(it->second->shape) + ", expected " +
                          shapeText(want));
      continue;
    }
    rt::Checkpoint::Tensor t;
    t.shape = p.shape;
    t.data = p.transpose ? transposed(it->second->data, want[0], want[1]) : it->second->data;
    r.checkpoint.tensors.emplace_back(p.motif, std::move(t));
  }
  for (const auto &[n, t] : byName) {
    if (used.count(n))
      continue;
    if (plan->ignoredBuffers.count(n)) {
      r.notes.push_back("buffer '" + n + "' is recomputed by Motif, not imported");
    } else if (n == plan->tiedHead) {
      r.notes.push_back("'" + n + "' is tied to the embedding (tie_word_embeddings): not "
                        "imported separately");
    } else {
      unmapped.push_back(n + " " + shapeText(t->shape));
    }
  }
  if (!missing.empty() || !misShaped.empty() || !unmapped.empty()) {
    std::string m = "'" + dir + "' does not match the " + plan->family + " config:";
    for (const std::string &x : missing)
      m += "\n  missing: " + x;
    for (const std::string &x : misShaped)
      m += "\n  mis-shaped: " + x;
    for (const std::string &x : unmapped)
      m += "\n  unmapped: " + x;
    return Status::error(m);
  }
  r.checkpoint.metadata["imported_from"] = dir;
  r.checkpoint.metadata["hf_family"] = plan->family;
  return r;
}

Status motif::hf::exportDirectory(const std::string &hfDir, const rt::Checkpoint &motif,
                                  const std::string &outDir) {
  Json root;
  auto plan = planFor(hfDir, "exported", nullptr, root);
  if (!plan.isOk())
    return plan.status();
  rt::Checkpoint out;
  std::vector<std::string> problems;
  for (const Param &p : plan->params) {
    const rt::Checkpoint::Tensor *t = motif.find(p.motif);
    if (!t) {
      problems.push_back("missing: " + p.motif);
      continue;
    }
    if (t->shape != p.shape) {
      problems.push_back("mis-shaped: " + p.motif + " is " + shapeText(t->shape) +
                         ", expected " + shapeText(p.shape));
      continue;
    }
    if (!p.stack.empty()) {
      size_t per = t->data.size() / p.stack.size();
      for (size_t j = 0; j < p.stack.size(); ++j) {
        rt::Checkpoint::Tensor h;
        h.shape.assign(p.shape.begin() + 1, p.shape.end());
        h.data.assign(t->data.begin() + j * per, t->data.begin() + (j + 1) * per);
        out.tensors.emplace_back(plan->hfPrefix + p.stack[j], std::move(h));
      }
      continue;
    }
    rt::Checkpoint::Tensor h;
    h.shape = p.shape;
    h.data = t->data;
    if (p.transpose) {
      std::swap(h.shape[0], h.shape[1]);
      h.data = transposed(t->data, p.shape[0], p.shape[1]);
    }
    out.tensors.emplace_back(plan->hfPrefix + p.hf, std::move(h));
  }
  if (!problems.empty()) {
    std::string m = "the checkpoint does not match the " + plan->family + " config of '" +
                    hfDir + "':";
    for (const std::string &x : problems)
      m += "\n  " + x;
    return Status::error(m);
  }
  out.metadata["format"] = "pt";
  ::mkdir(outDir.c_str(), 0755);
  if (Status s = rt::saveCheckpoint(out, outDir + "/model.safetensors"); !s)
    return s;
  Status st;
  std::string config = readText(hfDir + "/config.json", st);
  if (!st)
    return st;
  std::ofstream os(outDir + "/config.json", std::ios::binary);
  if (!(os << config))
    return Status::error("cannot write '" + outDir + "/config.json'");
  return Status::ok();
}
