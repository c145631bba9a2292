// tools/Execute.h - the one place where the command line picks a backend to run a graph.
//
// `kiln run` (and any other subcommand that executes a graph) calls
// executeGraph; a backend becomes available to the command line by adding its
// case in Execute.cpp, nowhere else.
#ifndef KILN_TOOLS_EXECUTE_H
#define KILN_TOOLS_EXECUTE_H

#include "ir/Graph.h"
#include "ir/Interpreter.h"

#include <string>
#include <string_view>
#include <vector>

namespace kiln::tools {

/// The backend names the command line accepts (whether or not this build has them).
inline const std::vector<std::string> kBackendNames{"interp", "cpu", "cuda"};

/// True when `backend` can run graphs in this build.
bool backendAvailable(std::string_view backend);

/// Runs `g` once on `backend`. `env` holds every input, parameter and state by
/// name and receives the values `assign` nodes write. With `f64`, float values
/// are computed (and returned) in float64. RuntimeError when the backend is
/// not available in this build. With `checkNumerics`, a NaN or infinity is a
/// RuntimeError naming the first op producing it.
std::vector<HostTensor> executeGraph(const Graph &g, TensorMap &env, std::string_view backend, bool f64,
                                     bool checkNumerics = false);

} // namespace kiln::tools

#endif // KILN_TOOLS_EXECUTE_H
