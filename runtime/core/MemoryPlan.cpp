//===- MemoryPlan.cpp - Buffer sizes, lifetimes and arena offsets ----------===//
#include "runtime/core/MemoryPlan.h"

#include <algorithm>
#include <climits>
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

namespace {
/// Whether p <= q for every positive value of the symbols, as far as the
/// coefficients prove it (q - p has none negative).
bool provablyLE(const SymPoly &p, const SymPoly &q) {
  for (const SymPoly::Term &t : (q + p * -1).terms)
    if (t.coef < 0)
      return false;
  return true;
}

/// The coefficient-wise maximum: at least p and q for every positive value
/// of the symbols.
SymPoly upperBound(const SymPoly &p, const SymPoly &q) {
  std::map<std::vector<int32_t>, int64_t> pc, qc, acc;
  for (const SymPoly::Term &t : p.terms)
    pc[t.symbols] += t.coef;
  for (const SymPoly::Term &t : q.terms)
    qc[t.symbols] += t.coef;
  auto get = [](const auto &m, const std::vector<int32_t> &k) {
    auto it = m.find(k);
    return it == m.end() ? int64_t(0) : it->second;
  };
  for (const auto &[k, c] : pc)
    acc[k] = std::max(c, get(qc, k));
  for (const auto &[k, c] : qc)
    acc[k] = std::max(c, get(pc, k));
  return collect(acc);
}

/// Each coefficient rounded up to a multiple of the alignment: the constant
/// term's to kArenaAlignment, the others' to kSymbolicAlignment.
SymPoly aligned(const SymPoly &p) {
  std::map<std::vector<int32_t>, int64_t> acc;
  for (const SymPoly::Term &t : p.terms) {
    int64_t c = t.coef;
    int64_t a = t.symbols.empty() ? kArenaAlignment : kSymbolicAlignment;
    int64_t r = c >= 0 ? (c + a - 1) / a * a : -(-c / a * a);
    acc[t.symbols] += r;
  }
  return collect(acc);
}

int64_t valueAt(const SymPoly &p, const std::vector<int64_t> &ref) {
  auto v = p.eval(ref);
  return v ? *v : INT64_MAX;
}
} // namespace

SymbolicArena motif::rt::placeArena(const std::vector<std::optional<SymPoly>> &sizes,
                                    const std::vector<BufferInfo> &input,
                                    const std::vector<int64_t> &reference) {
  SymbolicArena plan;
  size_t n = sizes.size();
  plan.offsets.assign(n, std::nullopt);
  std::vector<BufferInfo> buffers(input.begin(), input.end());
  buffers.resize(std::max(buffers.size(), n));
  auto placed = [&](size_t i) { return sizes[i].has_value() && buffers[i].inArena; };
  // In-place reuse: each alias joins its root's buffer, whose lifetime
  // grows to cover it. An alias not provably within its root keeps its own.
  std::vector<int32_t> root(n, -1);
  for (size_t i = 0; i < n; ++i) {
    int32_t r = buffers[i].aliasOf;
    while (r >= 0 && static_cast<size_t>(r) < n && root[r] >= 0)
      r = root[r];
    if (r < 0 || static_cast<size_t>(r) >= n || !placed(r) || !placed(i) ||
        !provablyLE(*sizes[i], *sizes[r]))
      continue;
    root[i] = r;
    buffers[r].lastUse = std::max(buffers[r].lastUse, buffers[i].lastUse);
  }
  std::vector<size_t> order;
  std::vector<SymPoly> need(n);
  std::vector<int64_t> refSize(n, 0);
  for (size_t i = 0; i < n; ++i)
    if (placed(i)) {
      plan.sumOfSizes = plan.sumOfSizes + *sizes[i];
      need[i] = aligned(*sizes[i]);
      refSize[i] = valueAt(*sizes[i], reference);
      if (root[i] < 0)
        order.push_back(i);
    }
  // Largest first; ties by definition order, so the plan is deterministic.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return refSize[a] != refSize[b] ? refSize[a] > refSize[b] : a < b;
  });
  std::vector<size_t> done;
  // Each placed buffer's range at the reference dims: a range provably clear
  // of another is clear of it there too, so a candidate that overlaps a busy
  // range at the reference is skipped without the symbolic check (which
  // dominates the time: a model of many layers has thousands of buffers).
  std::vector<int64_t> refStart(n, 0), refEnd(n, 0);
  std::vector<SymPoly> placedEnd(n); // offset + size of each placed buffer
  for (size_t i : order) {
    const BufferInfo &bi = buffers[i];
    // Occupied ranges of placed buffers whose lifetimes overlap this one.
    std::vector<size_t> busy;
    std::vector<std::pair<int64_t, int64_t>> busyRef; // (start, end) at the reference
    for (size_t j : done) {
      const BufferInfo &bj = buffers[j];
      if (bi.def <= bj.lastUse && bj.def <= bi.lastUse) {
        busy.push_back(j);
        busyRef.push_back({refStart[j], refEnd[j]});
      }
    }
    // Candidates: the arena's start and the end of each busy range, lowest
    // (at the reference dims) first; the first one provably clear of every
    // busy range wins. Above all of them is always clear.
    std::vector<std::pair<int64_t, size_t>> candidates = {{0, 0}};
    for (size_t k = 0; k < busy.size(); ++k)
      candidates.push_back({busyRef[k].second, k + 1});
    std::sort(candidates.begin(), candidates.end());
    // The busy ranges by start, with the largest end so far: [c, c + w)
    // overlaps one at the reference iff the largest end of those starting
    // before c + w is above c.
    std::vector<std::pair<int64_t, int64_t>> byStart = busyRef;
    std::sort(byStart.begin(), byStart.end());
    std::vector<int64_t> maxEnd(byStart.size());
    for (size_t k = 0; k < byStart.size(); ++k)
      maxEnd[k] = std::max(k ? maxEnd[k - 1] : INT64_MIN, byStart[k].second);
    const int64_t width = valueAt(need[i], reference);
    std::optional<SymPoly> at;
    for (auto [value, k] : candidates) {
      auto past = std::lower_bound(byStart.begin(), byStart.end(),
                                   std::pair<int64_t, int64_t>{value + width, INT64_MIN});
      size_t before = static_cast<size_t>(past - byStart.begin());
      if (before > 0 && maxEnd[before - 1] > value)
        continue; // overlaps at the reference dims: not provably clear
      SymPoly c = k == 0 ? SymPoly() : placedEnd[busy[k - 1]];
      SymPoly end = c + need[i];
      bool clear = std::all_of(busy.begin(), busy.end(), [&](size_t j) {
        return provablyLE(end, *plan.offsets[j]) || provablyLE(placedEnd[j], c);
      });
      if (clear) {
        at = c;
        break;
      }
    }
    if (!at) {
      SymPoly top;
      for (size_t j : busy)
        top = upperBound(top, placedEnd[j]);
      at = top;
    }
    plan.offsets[i] = *at;
    plan.bytes = upperBound(plan.bytes, *at + need[i]);
    placedEnd[i] = *at + need[i];
    refStart[i] = valueAt(*at, reference);
    refEnd[i] = refStart[i] + valueAt(need[i], reference);
    done.push_back(i);
  }
  for (size_t i = 0; i < n; ++i)
    if (root[i] >= 0)
      plan.offsets[i] = plan.offsets[root[i]];
  return plan;
}

bool SymbolicArena::at(const std::vector<int64_t> &values, ArenaPlan &out,
                       std::string &why) const {
  out = ArenaPlan();
  out.offsets.assign(offsets.size(), -1);
  for (size_t i = 0; i < offsets.size(); ++i)
    if (offsets[i]) {
      auto v = offsets[i]->eval(values);
      if (!v) {
        why = "the arena's offsets overflow at these dims";
        return false;
      }
      out.offsets[i] = *v;
    }
  auto peak = bytes.eval(values), sum = sumOfSizes.eval(values);
  if (!peak || !sum) {
    why = "the arena's size overflows at these dims";
    return false;
  }
  out.peak = *peak;
  out.sumOfSizes = *sum;
  return true;
}

ArenaPlan motif::rt::assignOffsets(const std::vector<int64_t> &sizes,
                                   const std::vector<BufferInfo> &buffers) {
  std::vector<std::optional<SymPoly>> symbolic;
  for (int64_t s : sizes)
    symbolic.push_back(s >= 0 ? std::optional(SymPoly::constant(s)) : std::nullopt);
  SymbolicArena arena = placeArena(symbolic, buffers, {});
  ArenaPlan out;
  std::string why;
  arena.at({}, out, why);
  return out;
}
