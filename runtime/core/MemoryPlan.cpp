//===- MemoryPlan.cpp - Buffer sizes, lifetimes and arena offsets ----------===//
#include "runtime/core/MemoryPlan.h"

#include <algorithm>
#include <climits>
#include <set>
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

namespace {
/// Polynomials as dense coefficient vectors over the monomials of the sizes
/// placed: every offset is a sum of sizes or a coefficient-wise maximum of
/// such sums, so it lives in the same space, and `p <= q` as provablyLE
/// proves it is a comparison coefficient by coefficient, without allocating.
class Dense {
public:
  explicit Dense(const std::vector<SymPoly> &polys) {
    std::map<std::vector<int32_t>, size_t> index;
    for (const SymPoly &p : polys)
      for (const SymPoly::Term &t : p.terms)
        index.emplace(t.symbols, 0);
    for (auto &[symbols, k] : index) {
      k = monomials.size();
      monomials.push_back(symbols);
    }
    lookup = std::move(index);
  }
  size_t width() const { return monomials.size(); }
  void set(const SymPoly &p, int64_t *out) const {
    std::fill(out, out + width(), 0);
    for (const SymPoly::Term &t : p.terms)
      out[lookup.at(t.symbols)] += t.coef;
  }
  /// Each monomial's value at `values` (INT64_MAX on overflow or a missing symbol).
  std::vector<int64_t> at(const std::vector<int64_t> &values) const {
    std::vector<int64_t> out;
    for (const std::vector<int32_t> &m : monomials) {
      int64_t v = 1;
      for (int32_t s : m)
        if (s < 0 || static_cast<size_t>(s) >= values.size() ||
            __builtin_mul_overflow(v, values[s], &v)) {
          v = INT64_MAX;
          break;
        }
      out.push_back(v);
    }
    return out;
  }
  SymPoly poly(const int64_t *v) const {
    std::map<std::vector<int32_t>, int64_t> acc;
    for (size_t k = 0; k < width(); ++k)
      if (v[k] != 0)
        acc[monomials[k]] = v[k];
    return collect(acc);
  }

private:
  std::vector<std::vector<int32_t>> monomials;
  std::map<std::vector<int32_t>, size_t> lookup;
};

/// p <= q coefficient by coefficient (provablyLE on dense vectors).
bool denseLE(const int64_t *p, const int64_t *q, size_t w) {
  for (size_t k = 0; k < w; ++k)
    if (p[k] > q[k])
      return false;
  return true;
}
} // namespace

namespace {
ArenaPlacement defaultPlacement = ArenaPlacement::Auto;

/// How many pairs of the buffers in `order` are alive together (def..last
/// ranges that meet): all pairs less those where one dies before the other is
/// written, counted with the last uses sorted. The greedy by size walks about
/// this many busy buffers in all.
int64_t pairsAliveTogether(const std::vector<size_t> &order, const std::vector<int32_t> &def,
                           const std::vector<int32_t> &last) {
  std::vector<int32_t> lasts;
  for (size_t i : order)
    lasts.push_back(last[i]);
  std::sort(lasts.begin(), lasts.end());
  int64_t m = static_cast<int64_t>(order.size()), apart = 0;
  for (size_t i : order)
    apart += std::lower_bound(lasts.begin(), lasts.end(), def[i]) - lasts.begin();
  return std::max<int64_t>(0, m * (m - 1) / 2 - apart);
}

/// The placement in definition order (ArenaPlacement::InOrder). Walks the
/// buffers by their defining step; before each, the buffers that died before
/// that step are freed: a freed range becomes a hole, merged with a hole that
/// ends exactly where it starts or starts exactly where it ends. A buffer goes
/// at the start of the first hole (by start at the reference dims) it provably
/// fits in (hole start + size <= hole end coefficient-wise), the hole keeping
/// the rest; otherwise at the top: the coefficient-wise maximum of the ends of
/// the live buffers and of the holes, kept per monomial in a multiset. A hole
/// that starts provably above every live end is dropped, which lowers the top.
/// Invariant: the live buffers and the holes are pairwise provably disjoint
/// (one's end <= the other's start coefficient-wise), so each placement is
/// clear of every live buffer; a buffer whose size has a negative coefficient
/// goes to the top and leaves no hole (its end is not provably above its
/// start), and one whose size is provably never positive goes at 0.
/// Offsets and ends are dense vectors of `w` coefficients (off, end by buffer).
void placeInOrder(const std::vector<size_t> &order, const std::vector<int32_t> &def,
                  const std::vector<int32_t> &last, const std::vector<int64_t> &needD,
                  const std::vector<int64_t> &monomialRef, size_t w, std::vector<int64_t> &off, std::vector<int64_t> &end,
                  std::vector<int64_t> &bytes) {
  using Vec = std::vector<int64_t>;
  std::vector<size_t> seq(order), deaths(order);
  std::sort(seq.begin(), seq.end(),
            [&](size_t a, size_t b) { return def[a] != def[b] ? def[a] < def[b] : a < b; });
  std::sort(deaths.begin(), deaths.end(),
            [&](size_t a, size_t b) { return last[a] != last[b] ? last[a] < last[b] : a < b; });
  // Per monomial, the ends of the live buffers and of the holes.
  std::vector<std::multiset<int64_t>> liveEnds(w), holeEnds(w);
  auto addEnd = [&](std::vector<std::multiset<int64_t>> &sets, const int64_t *e) {
    for (size_t k = 0; k < w; ++k)
      sets[k].insert(e[k]);
  };
  auto removeEnd = [&](std::vector<std::multiset<int64_t>> &sets, const int64_t *e) {
    for (size_t k = 0; k < w; ++k)
      sets[k].erase(sets[k].find(e[k]));
  };
  struct Hole {
    Vec a, b;
    int64_t refA = 0;
  };
  std::vector<Hole> holes;
  std::vector<uint32_t> freeIds;
  std::set<std::pair<int64_t, uint32_t>> byRef; // holes by start at the reference
  std::map<Vec, uint32_t> byStart, byEnd;       // for merging: exact starts and ends
  // A hole's start at the reference dims: only the order of the scan, the
  // proofs are coefficient-wise.
  auto refOf = [&](const Vec &v) {
    int64_t sum = 0, t;
    for (size_t k = 0; k < w; ++k)
      if (__builtin_mul_overflow(v[k], monomialRef[k], &t) || __builtin_add_overflow(sum, t, &sum))
        return INT64_MAX;
    return sum;
  };
  auto unindex = [&](uint32_t h) {
    byRef.erase({holes[h].refA, h});
    auto s = byStart.find(holes[h].a);
    if (s != byStart.end() && s->second == h)
      byStart.erase(s);
    auto e = byEnd.find(holes[h].b);
    if (e != byEnd.end() && e->second == h)
      byEnd.erase(e);
  };
  auto index = [&](uint32_t h) {
    holes[h].refA = refOf(holes[h].a);
    byRef.insert({holes[h].refA, h});
    byStart.emplace(holes[h].a, h);
    byEnd.emplace(holes[h].b, h);
  };
  auto drop = [&](uint32_t h) {
    unindex(h);
    removeEnd(holeEnds, holes[h].b.data());
    freeIds.push_back(h);
  };
  auto nonNegative = [&](const int64_t *v) {
    return std::all_of(v, v + w, [](int64_t c) { return c >= 0; });
  };
  auto nonPositive = [&](const int64_t *v) {
    return std::all_of(v, v + w, [](int64_t c) { return c <= 0; });
  };
  std::vector<char> tracked(def.size(), 0); // alive and holding bytes
  Vec top(w), cand(w);
  size_t nextDeath = 0;
  for (size_t i : seq) {
    // Free the buffers that died before this one is written.
    for (; nextDeath < deaths.size() && last[deaths[nextDeath]] < def[i]; ++nextDeath) {
      size_t j = deaths[nextDeath];
      if (!tracked[j])
        continue;
      tracked[j] = 0;
      removeEnd(liveEnds, &end[j * w]);
      if (!nonNegative(&needD[j * w]))
        continue; // its range is not provably ordered: no hole
      Vec a(&off[j * w], &off[j * w] + w), b(&end[j * w], &end[j * w] + w);
      auto l = byEnd.find(a);
      if (l != byEnd.end()) {
        uint32_t h = l->second;
        a = holes[h].a;
        drop(h);
      }
      auto r = byStart.find(b);
      if (r != byStart.end()) {
        uint32_t h = r->second;
        b = holes[h].b;
        drop(h);
      }
      uint32_t h;
      if (freeIds.empty()) {
        h = static_cast<uint32_t>(holes.size());
        holes.emplace_back();
      } else {
        h = freeIds.back();
        freeIds.pop_back();
      }
      holes[h].a = std::move(a);
      holes[h].b = std::move(b);
      index(h);
      addEnd(holeEnds, holes[h].b.data());
      // Holes above every live end are the top's: drop them.
      while (!byRef.empty()) {
        uint32_t t = std::prev(byRef.end())->second;
        bool above = true;
        for (size_t k = 0; k < w && above; ++k)
          above = liveEnds[k].empty() || *liveEnds[k].rbegin() <= holes[t].a[k];
        if (!above)
          break;
        drop(t);
      }
    }
    const int64_t *ni = &needD[i * w];
    int64_t *oi = &off[i * w], *ei = &end[i * w];
    if (nonPositive(ni)) { // never positive: no bytes to place
      std::fill(oi, oi + w, 0);
    } else {
      bool done = false;
      if (nonNegative(ni))
        for (auto it = byRef.begin(); it != byRef.end(); ++it) {
          uint32_t h = it->second;
          Hole &hole = holes[h];
          bool fits = true;
          for (size_t k = 0; k < w && fits; ++k)
            fits = hole.a[k] + ni[k] <= hole.b[k];
          if (!fits)
            continue;
          std::copy(hole.a.begin(), hole.a.end(), oi);
          unindex(h);
          for (size_t k = 0; k < w; ++k)
            hole.a[k] += ni[k];
          if (hole.a == hole.b) {
            removeEnd(holeEnds, hole.b.data());
            freeIds.push_back(h);
          } else {
            index(h);
          }
          done = true;
          break;
        }
      if (!done)
        for (size_t k = 0; k < w; ++k)
          oi[k] = std::max({int64_t(0), liveEnds[k].empty() ? 0 : *liveEnds[k].rbegin(),
                            holeEnds[k].empty() ? 0 : *holeEnds[k].rbegin()});
    }
    for (size_t k = 0; k < w; ++k) {
      ei[k] = oi[k] + ni[k];
      bytes[k] = std::max(bytes[k], ei[k]);
    }
    if (!nonPositive(ni)) {
      tracked[i] = 1;
      addEnd(liveEnds, ei);
    }
  }
}
} // namespace

void motif::rt::setDefaultArenaPlacement(ArenaPlacement how) { defaultPlacement = how; }

SymbolicArena motif::rt::placeArena(const std::vector<std::optional<SymPoly>> &sizes,
                                    const std::vector<BufferInfo> &input,
                                    const std::vector<int64_t> &reference,
                                    ArenaPlacement how) {
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
  // Each buffer goes at the lowest candidate offset (the arena's start or the
  // end of a placed buffer alive with it, in the order their values at the
  // reference dims give, ties by placement order) that is provably clear of
  // every placed buffer alive with it: its end <= their offset, or their end
  // <= its offset. A range provably clear of another is clear of it at the
  // reference too, so a candidate overlapping a busy range there is skipped
  // unproven. The proof itself needs no walk over the busy buffers: at a
  // candidate c clear at the reference (and a buffer of positive width
  // there), the busy buffers starting below c + width can only be proven
  // below c and the others only above c + width, and `p <= q_j for every j`
  // is `p <= min_j q_j` coefficient by coefficient. So c is clear iff the
  // coefficient-wise maximum of the ends of the first group is <= c and
  // c + width <= the minimum of the offsets of the second: a prefix maximum
  // and a suffix minimum over the busy buffers sorted by start. The result is
  // the placement of proving every candidate against every busy buffer
  // (MemoryPlanTest checks it against that on random plans).
  const Dense dense(need);
  const size_t w = dense.width();
  std::vector<int64_t> needD(n * w), off(n * w), end(n * w), bytes(w, 0), zero(w, 0);
  for (size_t i : order)
    dense.set(need[i], &needD[i * w]);
  auto satAdd = [](int64_t a, int64_t b) {
    int64_t r;
    return __builtin_add_overflow(a, b, &r) ? (b > 0 ? INT64_MAX : INT64_MIN) : r;
  };
  // The reference orders ranges soundly when every symbol is non-negative
  // there and every size has a value.
  bool refSound = std::all_of(reference.begin(), reference.end(), [](int64_t v) { return v >= 0; });
  for (size_t i : order)
    refSound = refSound && refSize[i] != INT64_MAX && valueAt(need[i], reference) != INT64_MAX;
  std::vector<int64_t> refStart(n, 0), refEnd(n, 0);
  std::vector<int32_t> def(n), last(n);
  for (size_t i = 0; i < n; ++i)
    def[i] = buffers[i].def, last[i] = buffers[i].lastUse;
  if (how == ArenaPlacement::Auto)
    how = defaultPlacement;
  int64_t pairs = -1;
  if (how == ArenaPlacement::Auto) {
    pairs = pairsAliveTogether(order, def, last);
    how = pairs > kArenaGreedyPairs || static_cast<int64_t>(order.size()) > kArenaGreedyBuffers
              ? ArenaPlacement::InOrder
              : ArenaPlacement::GreedyBySize;
  }
  // What the choice saw, and which limit it passed.
  const bool auto_ = pairs >= 0;
  std::string count = std::to_string(order.size()) + " buffers";
  if (auto_ && static_cast<int64_t>(order.size()) > kArenaGreedyBuffers)
    count += " > " + std::to_string(kArenaGreedyBuffers);
  if (auto_) {
    count += ", " + std::to_string(pairs) + " pairs alive together";
    if (pairs > kArenaGreedyPairs)
      count += " > " + std::to_string(kArenaGreedyPairs);
  }
  if (how == ArenaPlacement::InOrder) {
    plan.placement = "in definition order, first fit (" + count + ")";
    placeInOrder(order, def, last, needD, dense.at(reference), w, off, end, bytes);
    for (size_t i : order)
      plan.offsets[i] = dense.poly(&off[i * w]);
    plan.bytes = dense.poly(bytes.data());
    for (size_t i = 0; i < n; ++i)
      if (root[i] >= 0)
        plan.offsets[i] = plan.offsets[root[i]];
    return plan;
  }
  plan.placement = "greedy by size (" + count + ")";
  // The placed buffers by start at the reference, and by end (ties in
  // placement order).
  std::vector<uint32_t> byStart, byEnd, busyStart, busyEnd;
  std::vector<int64_t> join(w), suffix, cEnd(w);
  for (size_t i : order) {
    const int32_t di = def[i], li = last[i];
    busyStart.clear();
    busyEnd.clear();
    for (uint32_t j : byStart)
      if (di <= last[j] && def[j] <= li)
        busyStart.push_back(j);
    for (uint32_t j : byEnd)
      if (di <= last[j] && def[j] <= li)
        busyEnd.push_back(j);
    const int64_t width = valueAt(need[i], reference);
    const int64_t *ni = &needD[i * w];
    const bool fast = refSound && width > 0;
    const size_t B = busyStart.size();
    size_t p = 0, suffixFrom = B;
    int64_t maxEnd = INT64_MIN;
    std::fill(join.begin(), join.end(), INT64_MIN);
    // suffix[p] (w coefficients): the minimum of the offsets of busyStart[p..B),
    // filled from the end as far down as a proof needs.
    if (suffix.size() < (B + 1) * w)
      suffix.resize((B + 1) * w);
    std::fill(suffix.begin() + B * w, suffix.begin() + (B + 1) * w, INT64_MAX);
    const int64_t *at = nullptr;
    // Candidates in order: the zero offset sorts before every end >= 0.
    bool zeroTried = false;
    for (size_t q = 0; q <= busyEnd.size() && !at;) {
      const int64_t *c;
      int64_t v;
      if (!zeroTried && (q == busyEnd.size() || refEnd[busyEnd[q]] >= 0)) {
        zeroTried = true;
        c = zero.data(), v = 0;
      } else if (q < busyEnd.size()) {
        uint32_t j = busyEnd[q++];
        c = &end[j * w], v = refEnd[j];
      } else {
        break;
      }
      const int64_t limit = satAdd(v, width);
      for (; p < B && refStart[busyStart[p]] < limit; ++p) {
        uint32_t j = busyStart[p];
        maxEnd = std::max(maxEnd, refEnd[j]);
        for (size_t k = 0; k < w; ++k)
          join[k] = std::max(join[k], end[j * w + k]);
      }
      if (p > 0 && maxEnd > v)
        continue; // overlaps at the reference dims: not provably clear
      for (size_t k = 0; k < w; ++k)
        cEnd[k] = c[k] + ni[k];
      bool clear;
      if (fast) {
        for (; suffixFrom > p; --suffixFrom) {
          const int64_t *o = &off[busyStart[suffixFrom - 1] * w];
          for (size_t k = 0; k < w; ++k)
            suffix[(suffixFrom - 1) * w + k] = std::min(suffix[suffixFrom * w + k], o[k]);
        }
        clear = denseLE(join.data(), c, w) && denseLE(cEnd.data(), &suffix[p * w], w);
      } else {
        clear = std::all_of(busyStart.begin(), busyStart.end(), [&](uint32_t j) {
          return denseLE(cEnd.data(), &off[j * w], w) || denseLE(&end[j * w], c, w);
        });
      }
      if (clear)
        at = c;
    }
    int64_t *oi = &off[i * w], *ei = &end[i * w];
    if (at) {
      std::copy(at, at + w, oi);
    } else { // above every busy buffer
      std::fill(oi, oi + w, 0);
      for (uint32_t j : busyStart)
        for (size_t k = 0; k < w; ++k)
          oi[k] = std::max(oi[k], end[j * w + k]);
    }
    for (size_t k = 0; k < w; ++k) {
      ei[k] = oi[k] + ni[k];
      bytes[k] = std::max(bytes[k], ei[k]);
    }
    plan.offsets[i] = dense.poly(oi);
    refStart[i] = valueAt(*plan.offsets[i], reference);
    refEnd[i] = satAdd(refStart[i], width);
    byStart.insert(std::upper_bound(byStart.begin(), byStart.end(), refStart[i],
                                    [&](int64_t s, uint32_t j) { return s < refStart[j]; }),
                   static_cast<uint32_t>(i));
    byEnd.insert(std::upper_bound(byEnd.begin(), byEnd.end(), refEnd[i],
                                  [&](int64_t e, uint32_t j) { return e < refEnd[j]; }),
                 static_cast<uint32_t>(i));
  }
  plan.bytes = dense.poly(bytes.data());
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
