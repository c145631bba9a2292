// passes/MemoryPlan.h - static memory plan of one step: one arena, offsets from liveness, in-place reuse.
//
// planMemory assigns every value of a graph's top level a place: inputs,
// parameters and state live in their own persistent buffers (outside the
// arena); every other value gets an offset into one arena, 64-byte aligned,
// so that two values live at the same time never overlap. A value may reuse
// the buffer of an operand ("in place") when that is legal:
//   * an elementwise op, or an "elementwise"/"optimizer_update" region, whose
//     operand of the result's shape dies at that node (the kernel reads element
//     i before writing element i; in a region the output's producer comes after
//     every body reader of that operand, so op-by-op execution is safe too);
//   * reshape and flatten results are views of their operand (same bytes);
//   * the value of assign(target, v) is written straight over the parameter or
//     state `target` when v's producer is the last reader of target (it reads
//     target in place, or every other reader comes before it); the assign then
//     copies nothing.
// Region bodies are not planned here: a backend keeps a body's intermediates
// in registers or its own scratch. Liveness is by top-level program order.
// The `plan-memory` pass reports the plan through --stats; the runtime
// backends call planMemory themselves.
#ifndef KILN_PASSES_MEMORYPLAN_H
#define KILN_PASSES_MEMORYPLAN_H

#include "ir/Graph.h"

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <unordered_map>

namespace kiln {

/// Where one value lives.
struct BufferSlot {
  enum class Place : uint8_t {
    Arena,     ///< [offset, offset + size) of the step's arena
    Signature, ///< the persistent buffer of `signature` (an input, parameter or state)
  };
  Place place = Place::Arena;
  int64_t offset = -1;       ///< arena offset (Arena only), a multiple of MemoryPlan::kAlignment
  size_t size = 0;           ///< the value's byte size
  Node *signature = nullptr; ///< Signature only: the input/param/state node whose buffer holds it
  Value inPlaceOf;           ///< the operand whose buffer this value reuses; null when fresh
  int64_t def = -1;          ///< program position of the producer (-1: signature value)
  int64_t lastUse = -1;      ///< last program position reading it; nodes().size() for graph outputs
};

/// The memory plan of one step.
struct MemoryPlan {
  static constexpr size_t kAlignment = 64;

  /// Every top-level value: signature values and every result of every body node.
  std::unordered_map<Value, BufferSlot, ValueHash> slots;
  size_t arenaBytes = 0;     ///< size of the arena
  size_t peakLiveBytes = 0;  ///< most arena bytes live at one program point (aligned sizes)
  size_t unplannedBytes = 0; ///< sum of the byte sizes of all body values (one buffer each)
  int64_t inPlace = 0;       ///< values that reuse an operand's buffer (views included)

  /// The slot of `v`; InternalError when `v` is not a top-level value of the planned graph.
  const BufferSlot &at(Value v) const;
};

/// Plans the memory of `g` (precondition: verified, body in topological order).
MemoryPlan planMemory(const Graph &g);

/// Writes one line per body value: name, type, place, offset, size, in-place source.
void printMemoryPlan(const Graph &g, const MemoryPlan &plan, std::ostream &os);

} // namespace kiln

#endif // KILN_PASSES_MEMORYPLAN_H
