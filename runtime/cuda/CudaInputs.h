// runtime/cuda/CudaInputs.h - the inputs of the CUDA backend's two step slots.
//
// A step runs in one of two slots, in turn (runtime/cuda/CudaExecutable.cpp);
// each slot has its inputs in pinned staging, which the host writes, and a
// device copy, which the kernels read. This class lays them out (the values
// packed, then room for the row numbers of each input with rows), tracks what
// the next step gets for each input (a value written into the staging, or rows
// of a table bound to the input and held in device memory: Executable::
// bindRows and selectRows), carries an input not written for a step over from
// the step before, and uploads a slot's inputs: the values written, in as few
// copies as small gaps allow, and the row numbers, which a gather kernel then
// turns into the rows on the device.
#ifndef KILN_RUNTIME_CUDA_CUDAINPUTS_H
#define KILN_RUNTIME_CUDA_CUDAINPUTS_H

#include "codegen/Lower.h"
#include "ir/HostTensor.h"
#include "runtime/cuda/CudaDriver.h"

#include <cstddef>
#include <map>
#include <span>
#include <utility>
#include <vector>

namespace kiln::cuda {

/// `n` rounded up to 256 bytes: the alignment of every part of a slot.
inline size_t aligned256(size_t n) { return (n + 255) / 256 * 256; }

class SlotInputs {
public:
  /// Lays out the inputs (with bytes) of `p`.
  explicit SlotInputs(const Program &p);

  /// Bytes of one slot's inputs (values and room for row numbers).
  size_t bytes() const { return bytes_; }
  /// Whether buffer `b` is an input with bytes; then its value lies at offset(b) of a slot.
  bool has(int b) const { return valueAt_[b] >= 0; }
  size_t offset(int b) const { return static_cast<size_t>(valueAt_[b]); }

  /// Where slot `slot`'s inputs are: pinned staging and their device copy.
  void attach(int slot, std::byte *staging, CUdeviceptr device);
  CUdeviceptr device(int b, int slot) const { return slots_[slot].device + offset(b); }

  /// The staging of input `b` in slot `slot`, which the host writes for the
  /// next step (that step then reads the value written).
  std::byte *write(int b, int slot);
  /// Rows `rows` (checked) of input `b`'s table for the next step, in slot `slot`.
  void select(int b, int slot, std::span<const int64_t> rows);
  /// Whether input `b` was written or selected for the next step.
  bool written(int b) const { return written_[b]; }
  /// Whether slot `slot`'s step gathers input `b`, and the rows it gathers.
  bool gathered(int b, int slot) const { return slots_[slot].gathered[b]; }
  std::vector<int64_t> rows(int b, int slot) const;
  /// The value of input `b` that slot `slot`'s step reads: the staging, or
  /// its rows gathered on the host from `table`.
  void read(int b, int slot, const HostTensor &table, std::byte *dst) const;

  /// Begins the next step in slot `next`: an input not written for it keeps
  /// slot `last`'s value or rows (none when last < 0); no input is written
  /// for the step after.
  void begin(int next, int last);
  /// The bytes [begin, end) of slot `slot`'s inputs that upload() copies:
  /// the values written and the row numbers selected, ranges less than 4 KiB
  /// apart joined into one.
  std::vector<std::pair<size_t, size_t>> uploadRanges(int slot) const;
  /// Uploads slot `slot`'s inputs on `stream`, then gathers its selected rows.
  void upload(int slot, CUstream stream) const;

  /// The module whose gather kernels (rowGatherKernels()) upload() launches.
  void load(CUmodule module);
  /// Holds `table` in device memory for input `b` (replacing any before).
  void bind(int b, const HostTensor &table);
  /// Frees the device tables (the executable's context is current).
  void release();

private:
  void findRanges(int slot, std::vector<std::pair<size_t, size_t>> &ranges) const;

  struct Slot {
    std::byte *staging = nullptr;
    CUdeviceptr device = 0;
    std::vector<char> gathered; ///< per buffer: the step gathers it from its table
    std::vector<int64_t> count; ///< per gathered input: rows selected
  };
  const Program &program_;
  std::vector<int64_t> valueAt_; ///< offset of a buffer's value in a slot's inputs, or -1
  std::vector<int64_t> rowsAt_;  ///< offset of its row numbers, or -1
  std::vector<int> buffers_;     ///< the inputs with bytes, in offset order
  std::vector<bool> written_;    ///< written or selected for the next step
  std::map<int, CUdeviceptr> tables_;
  CUfunction gather_[2] = {}; ///< rowGatherKernels(): words, bytes (once a module is loaded)
  mutable std::vector<std::pair<size_t, size_t>> ranges_; ///< upload()'s, reserved
  size_t bytes_ = 0;
  Slot slots_[2];
};

} // namespace kiln::cuda

#endif // KILN_RUNTIME_CUDA_CUDAINPUTS_H
