// runtime/Executable.h - a compiled step (train or eval), backend-neutral.
//
// compile() turns a graph into an Executable for one backend. Inputs are
// written before each run(); parameters and state persist between runs and
// are updated in place by the graph's `assign` nodes; outputs are read after
// run(). start() and wait() split a step so that a device computes one step
// while the host prepares the next (the pipeline of examples/mnist/Trainer.cpp).
// Backends: "interp" (the reference interpreter, always present), "cpu" (LLVM
// JIT, when built with LLVM), "cuda" (NVRTC, when a GPU exists).
// A backend plugs in by defining its entry point of runtime/Backends.h
// (makeCpuExecutable + hasCpuBackend in runtime/cpu/, makeCudaExecutable +
// hasCudaBackend in runtime/cuda/); runtime/CMakeLists.txt then drops the stub.
#ifndef KILN_RUNTIME_EXECUTABLE_H
#define KILN_RUNTIME_EXECUTABLE_H

#include "ir/Graph.h"
#include "ir/HostTensor.h"

#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

namespace kiln {

/// How to compile.
struct CompileOptions {
  std::string backend = "cpu"; ///< "interp", "cpu" or "cuda"
  int threads = 0;             ///< CPU worker threads (0: one per core)
  bool verbose = false;        ///< report compile time and kernel counts on `log`
  bool runPasses = true;       ///< run the backend's default pass pipeline first
  bool tf32 = false;           ///< CUDA: allow TF32 tensor-core math
  /// CUDA: target architecture ("sm_90") when compiling without a GPU; empty:
  /// the device's own (sm_90 when there is no device).
  std::string cudaArch;
  /// Compile (and dump) only: no device state is created, so the result cannot
  /// run. Lets `kiln compile --backend cuda` work on a machine without a GPU.
  bool compileOnly = false;
  std::ostream *log = nullptr; ///< verbose output (null: std::cerr)
  /// Verify after every run() that no NaN or infinity appeared; the error
  /// names the first op producing one (`--check-numerics`). The interpreter
  /// checks every node; compiled backends check outputs, parameters and state
  /// and, on a finding, replay the step on the interpreter to name the op.
  bool checkNumerics = false;
  /// When non-empty, each kernel's kernel IR, LLVM IR and assembly (or CUDA
  /// source) are written into this directory (`kiln compile --dump DIR`).
  std::string dumpDir;
  /// CPU: the vector width in bytes kernels are shaped for (0: the host's; 16
  /// or 32 give the kernels an SSE or AVX2 machine gets, to test them here).
  int cpuVectorBytes = 0;
  /// Time every launch of each step (KILN_PROFILE=1 sets it too); profile()
  /// gives the figures, and the executable prints them to stderr when it is
  /// destroyed after running a step. Steps run slower: the CUDA backend launches kernels one by one
  /// between timing events, without graph replay or programmatic launches.
  bool profile = false;
};

/// One launch of a profiled step: its kernel, the mean milliseconds a step
/// spent in it, and what the backend adds (threads, blocks).
struct LaunchTime {
  std::string kernel;
  double ms = 0;
  std::string detail;
};

/// The per-launch times of the steps an executable has run (CompileOptions::profile).
struct StepProfile {
  std::string clock;                ///< what measured the times ("wall clock", "GPU events")
  int runs = 0;                     ///< steps timed
  std::vector<LaunchTime> launches; ///< in launch order
  double totalMs() const;           ///< the sum over launches: the mean time of a step's kernels
};

/// Prints `p`: a header line (runs, ms per step), then one line per launch, slowest first.
void printProfile(std::ostream &os, const StepProfile &p);

/// CompileOptions::profile, or KILN_PROFILE=1 in the environment.
bool profileRequested(const CompileOptions &opt);

/// A compiled graph with its own parameter, state and input storage.
class Executable {
public:
  virtual ~Executable() = default;

  /// The graph as compiled (after the backend's passes).
  virtual const Graph &graph() const = 0;
  /// Copies `t` into the input, parameter or state called `name` (types must match).
  virtual void set(const std::string &name, const HostTensor &t) = 0;
  /// The current value of an input, parameter or state.
  virtual HostTensor get(const std::string &name) const = 0;
  /// Copies the parameters, state or inputs `names` of `from` (an executable of
  /// the same model: equal types) into this one, after the steps in flight of
  /// both. The default goes through the host (get, set); a backend whose values
  /// live on a device copies device to device when `from` is its own kind.
  virtual void copyFrom(const Executable &from, const std::vector<std::string> &names);
  /// Host memory of input `name` for writing the next step's batch in place,
  /// or null when the backend's inputs are not host memory (then use set()).
  /// Write the whole input: while a step runs (start()), the memory is the next
  /// step's own and may hold an older value. An input not written for a step
  /// keeps its value.
  virtual void *inputData(const std::string &name) { (void)name; return nullptr; }
  /// Keeps `table` as the rows input `name` is gathered from by selectRows():
  /// for an input [B, d...], a table [N, d...] of the input's dtype (a data
  /// set). The host shares the table's buffer (no copy); a GPU backend copies
  /// it into device memory here, once, so that a step's batch is gathered on
  /// the device and only its row numbers are uploaded. Binding again replaces
  /// the table (a GPU uploads it again); an input whose rows were selected
  /// keeps its value.
  virtual void bindRows(const std::string &name, const HostTensor &table);
  /// The table bound to input `name`, or null.
  const HostTensor *boundRows(const std::string &name) const;
  /// Makes input `name` of the next step rows `rows` of its bound table, in
  /// that order, and zeros after them: at most B rows, each in [0, N). Like a
  /// write through inputData() or set() (either takes over again after it);
  /// a UserError names a row outside the table. The default gathers on the
  /// host into inputData(), else through set().
  virtual void selectRows(const std::string &name, std::span<const int64_t> rows);
  /// Writes rows `rows` of `table` (rows as bindRows() takes them, not
  /// bound), then zeros, into input `name` of the next step, on the host
  /// (through inputData(), else set()): for a step run too seldom to hold
  /// its own copy of a data set on the device.
  void writeRows(const std::string &name, const HostTensor &table, std::span<const int64_t> rows);
  /// Rows `rows` of `table`, then zeros, into `dst` of `type` (a [B, d...]
  /// input): what selectRows() makes of an input, on the host.
  static void gatherRows(std::byte *dst, const TensorType &type, const HostTensor &table,
                         std::span<const int64_t> rows);
  /// Runs one step and waits for it (and for every step begun before): computes
  /// the outputs and applies the assigns.
  void run();
  /// Begins one step and may return before it is done, so the host can write
  /// the next step's inputs (inputData(), set()) and begin that step while a
  /// device computes. At most two steps are in flight: a third start() first
  /// waits for the oldest. Backends that compute on the host run the step here
  /// and keep its outputs for wait().
  void start();
  /// Waits for the oldest step begun and not yet waited for (none: returns at
  /// once); output() then gives that step's outputs. An error of a step (a
  /// label out of range) is thrown by the call that waits for it: wait(), run(),
  /// or start() where the backend computes on the host. get() and set() of
  /// parameters and state wait for every step in flight themselves.
  void wait();
  /// Output i of the step run() or the last wait() finished; a UserError when a
  /// step was begun after that (call wait() first).
  HostTensor output(size_t i) const;
  /// Seconds spent compiling (passes, codegen, JIT).
  virtual double compileSeconds() const { return 0; }
  /// Backend name.
  virtual std::string backend() const = 0;
  /// The per-launch times of the steps finished so far when compiled with
  /// CompileOptions::profile (a device counts a step once it is waited for),
  /// else nothing.
  virtual std::optional<StepProfile> profile() const { return std::nullopt; }

protected:
  /// Runs one step to its end (after every step begun before); its outputs are
  /// then stepOutput()'s.
  virtual void runStep() = 0;
  /// Output i of the step the backend finished last (runStep() or waitStep()).
  virtual HostTensor stepOutput(size_t i) const = 0;
  /// A backend that overlaps steps with the host overrides both: begin a step
  /// without waiting for it (at most two in flight), and wait for the oldest
  /// step begun, whose outputs stepOutput() then gives. The defaults run the
  /// step in beginStep() and keep a copy of its outputs until waitStep().
  virtual void beginStep();
  virtual void waitStep();

  /// The type of input `name` (a UserError when the graph has no such input).
  const TensorType &inputType(const std::string &name) const;
  /// The bound table of input `name` after checking `rows` against it and
  /// the input (UserErrors name the input, the row and the sizes).
  const HostTensor &rowsToSelect(const std::string &name, std::span<const int64_t> rows) const;

private:
  /// UserErrors, prefixed by the call `what`, for a table whose rows are not
  /// input `name`'s, and for rows outside `table` or more than the input has.
  void checkRowTable(const char *what, const std::string &name, const HostTensor &table) const;
  void checkRows(const char *what, const std::string &name, const HostTensor &table,
                 std::span<const int64_t> rows) const;
  /// Gathers rows `rows` of `table` into input `name` on the host.
  void hostRows(const std::string &name, const HostTensor &table, std::span<const int64_t> rows);

  std::map<std::string, HostTensor> rowTables_; ///< bindRows()
  std::vector<std::vector<HostTensor>> kept_; ///< outputs of steps begun by the defaults, oldest first
  /// Outputs of the step the default waitStep() finished (output() gives them).
  std::optional<std::vector<HostTensor>> waited_;
  bool unwaited_ = false;                     ///< a step was begun after the last wait
};

/// Compiles `g` for `opt.backend`. Throws UserError for an unknown backend and
/// RuntimeError when the backend is not available here (no LLVM, no GPU).
std::unique_ptr<Executable> compile(const Graph &g, const CompileOptions &opt = {});

/// Backends compiled into this build ("interp" always first).
std::vector<std::string> availableBackends();

} // namespace kiln

#endif // KILN_RUNTIME_EXECUTABLE_H
