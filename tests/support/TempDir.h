// tests/support/TempDir.h - a fresh temporary folder per test, removed afterwards.
//
// Header-only. Tests that write files (.npy, IDX, safetensors, CLI output)
// create one TempDir and put everything under it.
#ifndef KILN_TESTS_SUPPORT_TEMPDIR_H
#define KILN_TESTS_SUPPORT_TEMPDIR_H

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace kiln::test {

/// Creates a unique folder under the system temp folder; deletes it (and its
/// contents) on destruction.
class TempDir {
public:
  TempDir() {
    static std::atomic<int> counter{0};
    auto base = std::filesystem::temp_directory_path();
    path_ = base / ("kiln-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;

  /// The folder itself.
  const std::filesystem::path &path() const { return path_; }
  /// The path of `name` inside the folder, as a string.
  std::string file(std::string_view name) const { return (path_ / name).string(); }

  /// Writes `bytes` to `name` inside the folder; returns its path.
  std::string write(std::string_view name, std::string_view bytes) const {
    std::string p = file(name);
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }

  /// The whole contents of a file (empty if it cannot be read).
  static std::string read(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

private:
  std::filesystem::path path_;
};

} // namespace kiln::test

#endif // KILN_TESTS_SUPPORT_TEMPDIR_H
