// tools/CompileCommand.cpp - `kiln compile`: compile a graph for a backend, dump its kernels.
//
// Runs the backend's default passes (or --passes), lowers and compiles every
// kernel, and with --dump DIR writes each kernel's kernel IR (.kir), LLVM IR
// (.ll) and assembly (.s), plus program.txt (buffers and launch order). Prints
// the compile time and kernel counts; runs nothing.
#include "tools/Command.h"

#include "ir/Error.h"
#include "ir/Parser.h"
#include "passes/Pass.h"
#include "runtime/Executable.h"

#include <iostream>
#include <memory>

namespace kiln::tools {
namespace {

struct CompileCmdOptions {
  std::string file;
  std::string backend = "cpu";
  std::string dump;
  std::string passes = "default";
  std::string arch;
  int threads = 0;
};

int runCompile(const CompileCmdOptions &o) {
  std::unique_ptr<Graph> g = parseGraphFile(o.file);
  if (o.passes != "default" && !o.passes.empty()) {
    PassManager pm;
    pm.addPipeline(o.passes);
    PassContext ctx;
    ctx.backend = o.backend;
    pm.run(*g, ctx);
    verify(*g);
  }
  CompileOptions opt;
  opt.backend = o.backend;
  opt.threads = o.threads;
  opt.dumpDir = o.dump;
  opt.runPasses = o.passes == "default";
  // CUDA: compile for --arch (default: the GPU's own, else sm_90) without needing a device.
  opt.cudaArch = o.arch;
  opt.compileOnly = o.backend == "cuda";
  opt.verbose = true;
  opt.log = &std::cout;
  std::unique_ptr<Executable> exe = compile(*g, opt);
  std::cout << "compiled @" << g->name() << " for " << exe->backend() << " in " << exe->compileSeconds() << " s";
  if (!o.dump.empty())
    std::cout << ", kernels written to " << o.dump;
  std::cout << "\n";
  return 0;
}

CommandAction setupCompile(CLI::App &sub) {
  auto o = std::make_shared<CompileCmdOptions>();
  sub.description("Compile a graph for a backend without running it: passes, lowering to kernel IR, code\n"
                  "generation and JIT (the on-disk kernel cache applies: KILN_CACHE_DIR, KILN_CACHE=0).\n"
                  "With --dump DIR, each kernel's kernel IR (.kir), LLVM IR (.ll) and assembly (.s) are\n"
                  "written to DIR, with program.txt listing buffers and launches.");
  sub.add_option("file", o->file, "graph to compile, in the kiln IR text format (.kir)")
      ->required()
      ->type_name("FILE.kir");
  sub.add_option("--backend", o->backend, "backend to compile for; default cpu")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->type_name("cpu|cuda");
  sub.add_option("--dump", o->dump, "write every kernel's kernel IR, LLVM IR and assembly into DIR")->type_name("DIR");
  sub.add_option("--passes", o->passes,
                 "passes to run before compiling: 'default' (the backend's default pipeline, the default), "
                 "a comma-separated list (e.g. fuse,dce), or 'none'")
      ->type_name("LIST");
  sub.add_option("--arch", o->arch,
                 "cuda: target GPU architecture, e.g. sm_90 (default: the GPU's own, or sm_90 without a GPU), or a "
                 "virtual one, e.g. compute_90 (PTX, compiled by the driver when loaded); "
                 "--dump then also writes each kernel's CUDA source (.cu) and PTX (.ptx)")
      ->type_name("sm_XY");
  sub.add_option("--threads", o->threads, "worker threads of the compiled step and of compilation (0: one per core)")
      ->check(CLI::NonNegativeNumber)
      ->type_name("N");
  return [o] {
    CompileCmdOptions c = *o;
    if (c.passes == "none")
      c.passes = "";
    return runCompile(c);
  };
}

} // namespace

KILN_REGISTER_COMMAND(compile, CommandSpec{"compile", "compile a graph for a backend and dump its kernels", 25,
                                           setupCompile});

} // namespace kiln::tools
