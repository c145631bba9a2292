// runtime/cuda/CudaInputs.cpp - the inputs of the CUDA backend's two step slots.
#include "runtime/cuda/CudaInputs.h"

#include "codegen/cuda/CudaSource.h"
#include "ir/Error.h"
#include "runtime/Executable.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace kiln::cuda {

SlotInputs::SlotInputs(const Program &p) : program_(p) {
  valueAt_.assign(p.buffers.size(), -1);
  rowsAt_.assign(p.buffers.size(), -1);
  written_.assign(p.buffers.size(), false);
  for (size_t b = 0; b < p.buffers.size(); ++b)
    if (p.buffers[b].role == BufferRole::Input && p.buffers[b].type.byteSize()) {
      valueAt_[b] = static_cast<int64_t>(bytes_);
      buffers_.push_back(static_cast<int>(b));
      bytes_ += aligned256(p.buffers[b].type.byteSize());
    }
  ranges_.reserve(2 * buffers_.size()); // no allocation in a step
  for (int b : buffers_)
    if (const Shape &shape = p.buffers[b].type.shape; !shape.empty()) {
      rowsAt_[b] = static_cast<int64_t>(bytes_);
      bytes_ += aligned256(sizeof(int64_t) * static_cast<size_t>(shape[0]));
    }
}

void SlotInputs::attach(int slot, std::byte *staging, CUdeviceptr device) {
  Slot &s = slots_[slot];
  s.staging = staging;
  s.device = device;
  s.gathered.assign(program_.buffers.size(), 0);
  s.count.assign(program_.buffers.size(), 0);
}

void SlotInputs::load(CUmodule module) {
  for (size_t i = 0; i < 2; ++i)
    KILN_CU(cuModuleGetFunction, &gather_[i], module, rowGatherKernels()[i].name.c_str());
}

std::byte *SlotInputs::write(int b, int slot) {
  written_[b] = true;
  slots_[slot].gathered[b] = 0;
  return slots_[slot].staging + offset(b);
}

void SlotInputs::select(int b, int slot, std::span<const int64_t> rows) {
  KILN_INTERNAL_CHECK(rowsAt_[b] >= 0 && tables_.count(b))
      << "cuda backend: rows selected for an input without a table";
  written_[b] = true;
  Slot &s = slots_[slot];
  s.gathered[b] = 1;
  s.count[b] = static_cast<int64_t>(rows.size());
  if (!rows.empty()) // memcpy from the null data() of an empty span is undefined
    std::memcpy(s.staging + rowsAt_[b], rows.data(), rows.size_bytes());
}

std::vector<int64_t> SlotInputs::rows(int b, int slot) const {
  const Slot &s = slots_[slot];
  std::vector<int64_t> r(static_cast<size_t>(s.count[b]));
  if (!r.empty())
    std::memcpy(r.data(), s.staging + rowsAt_[b], sizeof(int64_t) * r.size());
  return r;
}

void SlotInputs::read(int b, int slot, const HostTensor &table, std::byte *dst) const {
  const TensorType &type = program_.buffers[b].type;
  if (gathered(b, slot))
    Executable::gatherRows(dst, type, table, rows(b, slot));
  else
    std::memcpy(dst, slots_[slot].staging + offset(b), type.byteSize());
}

void SlotInputs::begin(int next, int last) {
  Slot &s = slots_[next];
  if (last >= 0)
    for (int b : buffers_)
      if (!written_[b]) {
        const Slot &l = slots_[last];
        s.gathered[b] = l.gathered[b];
        s.count[b] = l.count[b];
        if (l.gathered[b])
          std::memcpy(s.staging + rowsAt_[b], l.staging + rowsAt_[b], sizeof(int64_t) * l.count[b]);
        else
          std::memcpy(s.staging + offset(b), l.staging + offset(b), program_.buffers[b].type.byteSize());
      }
  std::fill(written_.begin(), written_.end(), false);
}

std::vector<std::pair<size_t, size_t>> SlotInputs::uploadRanges(int slot) const {
  std::vector<std::pair<size_t, size_t>> ranges;
  findRanges(slot, ranges);
  return ranges;
}

void SlotInputs::findRanges(int slot, std::vector<std::pair<size_t, size_t>> &ranges) const {
  const Slot &s = slots_[slot];
  ranges.clear();
  auto need = [&](size_t at, size_t bytes) {
    if (!ranges.empty() && at <= ranges.back().second + 4096)
      ranges.back().second = std::max(ranges.back().second, at + bytes);
    else
      ranges.push_back({at, at + bytes});
  };
  for (int b : buffers_)
    if (!s.gathered[b])
      need(offset(b), program_.buffers[b].type.byteSize());
  for (int b : buffers_)
    if (s.gathered[b] && s.count[b])
      need(static_cast<size_t>(rowsAt_[b]), sizeof(int64_t) * static_cast<size_t>(s.count[b]));
}

void SlotInputs::upload(int slot, CUstream stream) const {
  const Slot &s = slots_[slot];
  findRanges(slot, ranges_);
  for (auto [from, to] : ranges_)
    KILN_CU(cuMemcpyHtoDAsync_v2, s.device + from, s.staging + from, to - from, stream);
  for (int b : buffers_) {
    if (!s.gathered[b])
      continue;
    const TensorType &type = program_.buffers[b].type;
    const size_t rowBytes = type.byteSize() / static_cast<size_t>(type.shape[0]);
    const bool words = rowBytes % 4 == 0;
    CUdeviceptr table = tables_.at(b), rows = s.device + rowsAt_[b], out = s.device + offset(b);
    long long count = s.count[b], width = static_cast<long long>(words ? rowBytes / 4 : rowBytes),
              total = width * type.shape[0];
    void *params[] = {&table, &rows, &out, &count, &total, &width};
    KILN_CU(cuLaunchKernel, gather_[words ? 0 : 1], static_cast<unsigned>((total + 255) / 256), 1, 1, 256, 1, 1, 0,
            stream, params, nullptr);
  }
}

void SlotInputs::bind(int b, const HostTensor &table) {
  CUdeviceptr &t = tables_[b];
  if (t)
    KILN_CU(cuMemFree_v2, t);
  t = 0;
  KILN_CU(cuMemAlloc_v2, &t, std::max<size_t>(table.byteSize(), 1));
  if (table.byteSize())
    KILN_CU(cuMemcpyHtoD_v2, t, table.bytes(), table.byteSize());
}

void SlotInputs::release() {
  for (auto &[b, t] : tables_)
    if (t)
      driver().cuMemFree_v2(t);
  tables_.clear();
}

} // namespace kiln::cuda
