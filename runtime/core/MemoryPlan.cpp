//===- MemoryPlan.cpp - Buffer sizes, lifetimes and arena offsets ----------===//
#include "runtime/core/MemoryPlan.h"

#include <algorithm>
#include <numeric>

using namespace motif::rt;

SymPoly SymPoly::constant(int64_t c) {
  SymPoly p;
  if (c != 0)
    p.terms.push_back({c, {}});
  return p;
}

bool SymPoly::isConstant() const {
  return std::all_of(terms.begin(), terms.end(),
                     [](const Term &t) { return t.symbols.empty(); });
}

std::optional<int64_t> SymPoly::eval(const std::vector<int64_t> &values) const {
  int64_t sum = 0;
  for (const Term &t : terms) {
    int64_t v = t.coef;
    for (int32_t s : t.symbols) {
      if (s < 0 || static_cast<size_t>(s) >= values.size() ||
          __builtin_mul_overflow(v, values[s], &v))
        return std::nullopt;
    }
    if (__builtin_add_overflow(sum, v, &sum))
      return std::nullopt;
  }
  return sum;
}

namespace {
/// Terms collected by monomial, highest degree first.
SymPoly collect(const std::map<std::vector<int32_t>, int64_t> &acc) {
  SymPoly p;
  for (auto it = acc.rbegin(); it != acc.rend(); ++it)
    if (it->second != 0)
      p.terms.push_back({it->second, it->first});
  std::sort(p.terms.begin(), p.terms.end(), [](const SymPoly::Term &a, const SymPoly::Term &b) {
    if (a.symbols.size() != b.symbols.size())
      return a.symbols.size() > b.symbols.size();
    return a.symbols < b.symbols;
  });
  return p;
}
} // namespace

SymPoly SymPoly::operator+(const SymPoly &o) const {
  std::map<std::vector<int32_t>, int64_t> acc;
  for (const Term &a : terms)
    acc[a.symbols] += a.coef;
  for (const Term &b : o.terms)
    acc[b.symbols] += b.coef;
  return collect(acc);
}

SymPoly SymPoly::operator*(const SymPoly &o) const {
  std::map<std::vector<int32_t>, int64_t> acc;
  for (const Term &a : terms)
    for (const Term &b : o.terms) {
      std::vector<int32_t> s = a.symbols;
      s.insert(s.end(), b.symbols.begin(), b.symbols.end());
      std::sort(s.begin(), s.end());
      acc[s] += a.coef * b.coef;
    }
  return collect(acc);
}

std::string SymPoly::str(const std::vector<std::string> &names) const {
  if (terms.empty())
    return "0";
  std::string out;
  for (size_t i = 0; i < terms.size(); ++i) {
    const Term &t = terms[i];
    int64_t c = t.coef;
    if (i)
      out += c < 0 ? " - " : " + ";
    else if (c < 0)
      out += "-";
    c = c < 0 ? -c : c;
    std::string term;
    for (int32_t s : t.symbols)
      term += (term.empty() ? "" : "*") +
              (s >= 0 && static_cast<size_t>(s) < names.size() ? names[s] : "?");
    if (c != 1 || term.empty())
      term = std::to_string(c) + (term.empty() ? "" : "*" + term);
    out += term;
  }
  return out;
}

ArenaPlan motif::rt::assignOffsets(const std::vector<int64_t> &sizes,
                                   const std::vector<BufferInfo> &input) {
  ArenaPlan plan;
  size_t n = sizes.size();
  plan.offsets.assign(n, -1);
  // In-place reuse: each alias joins its root's buffer, whose lifetime
  // grows to cover it. An alias larger than its root keeps its own buffer.
  std::vector<BufferInfo> buffers(input.begin(), input.end());
  buffers.resize(std::max(buffers.size(), n));
  std::vector<int32_t> root(n, -1);
  for (size_t i = 0; i < n; ++i) {
    int32_t r = buffers[i].aliasOf;
    while (r >= 0 && static_cast<size_t>(r) < n && root[r] >= 0)
      r = root[r];
    if (r < 0 || static_cast<size_t>(r) >= n || sizes[r] < 0 || sizes[i] < 0 ||
        sizes[i] > sizes[r] || !buffers[r].inArena || !buffers[i].inArena)
      continue;
    root[i] = r;
    buffers[r].lastUse = std::max(buffers[r].lastUse, buffers[i].lastUse);
  }
  std::vector<size_t> order;
  for (size_t i = 0; i < n; ++i)
    if (sizes[i] >= 0 && buffers[i].inArena) {
      plan.sumOfSizes += sizes[i];
      if (root[i] < 0)
        order.push_back(i);
    }
  // Largest first; ties by definition order, so the plan is deterministic.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return sizes[a] != sizes[b] ? sizes[a] > sizes[b] : a < b;
  });
  auto align = [](int64_t x) {
    return (x + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
  };
  std::vector<size_t> placed;
  for (size_t i : order) {
    const BufferInfo &bi = buffers[i];
    // Occupied ranges of placed buffers whose lifetimes overlap this one.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t j : placed) {
      const BufferInfo &bj = buffers[j];
      bool overlap = bi.def <= bj.lastUse && bj.def <= bi.lastUse;
      if (overlap)
        busy.push_back({plan.offsets[j], plan.offsets[j] + align(sizes[j])});
    }
    std::sort(busy.begin(), busy.end());
    // The lowest gap that fits: best fit among gaps would fragment less, but
    // lowest-fit keeps the peak low for the stack-like lifetimes of a step.
    int64_t need = align(sizes[i]), at = 0;
    for (auto [lo, hi] : busy) {
      if (lo - at >= need)
        break;
      at = std::max(at, hi);
    }
    plan.offsets[i] = at;
    plan.peak = std::max(plan.peak, at + need);
    placed.push_back(i);
  }
  for (size_t i = 0; i < n; ++i)
    if (root[i] >= 0)
      plan.offsets[i] = plan.offsets[root[i]];
  return plan;
}
