// runtime/ArenaPlan.cpp - greedy interval placement of program buffers.
#include "runtime/ArenaPlan.h"

#include <algorithm>
#include <limits>

namespace kiln {

namespace {
size_t alignUp(size_t n, size_t alignment) { return (std::max<size_t>(n, 1) + alignment - 1) / alignment * alignment; }
} // namespace

ArenaPlan planArena(const Program &p, size_t alignment, const std::vector<int> &persistent,
                    const std::vector<int64_t> &launchTime) {
  auto aligned = [alignment](size_t n) { return alignUp(n, alignment); };
  size_t nb = p.buffers.size();
  ArenaPlan a;
  a.alignment = alignment;
  a.offset.assign(nb, 0);
  const int64_t kEnd = std::numeric_limits<int64_t>::max();
  std::vector<int64_t> first(nb, kEnd), last(nb, -1);
  auto touch = [&](int b, int64_t at) {
    int s = p.storageOf(b);
    first[s] = std::min(first[s], at);
    last[s] = std::max(last[s], at);
  };
  for (size_t i = 0; i < p.launches.size(); ++i)
    for (int b : p.launches[i].args)
      touch(b, launchTime.empty() ? static_cast<int64_t>(i) : launchTime.at(i));
  for (int o : p.outputs)
    touch(o, kEnd);
  for (auto [t, v] : p.assigns)
    touch(v, kEnd);
  for (int b : persistent)
    touch(b, -1), touch(b, kEnd);
  for (const LabelCheck &c : p.checks)
    touch(c.buffer, -1), touch(c.buffer, kEnd);

  size_t top = 0;
  std::vector<int> temps;
  for (size_t b = 0; b < nb; ++b) {
    const ProgramBuffer &buf = p.buffers[b];
    if (buf.aliasOf >= 0)
      continue;
    if (buf.role != BufferRole::Temp) {
      a.offset[b] = top;
      top += aligned(buf.type.byteSize());
    } else if (last[b] >= 0) {
      temps.push_back(static_cast<int>(b));
    }
  }
  std::stable_sort(temps.begin(), temps.end(),
                   [&](int x, int y) { return p.buffers[x].type.byteSize() > p.buffers[y].type.byteSize(); });
  struct Placed {
    size_t offset, size;
    int64_t first, last;
  };
  std::vector<Placed> placed;
  size_t end = top;
  for (int b : temps) {
    size_t size = aligned(p.buffers[b].type.byteSize());
    std::vector<std::pair<size_t, size_t>> busy;
    for (const Placed &q : placed)
      if (q.first <= last[b] && first[b] <= q.last)
        busy.push_back({q.offset, q.offset + q.size});
    std::sort(busy.begin(), busy.end());
    size_t at = top;
    for (auto [lo, hi] : busy) {
      if (at + size <= lo)
        break;
      at = std::max(at, hi);
    }
    a.offset[b] = at;
    placed.push_back({at, size, first[b], last[b]});
    end = std::max(end, at + size);
  }
  for (size_t b = 0; b < nb; ++b)
    if (p.buffers[b].aliasOf >= 0)
      a.offset[b] = a.offset[p.storageOf(static_cast<int>(b))];
  a.bytes = std::max(end, alignment);
  return a;
}

} // namespace kiln
