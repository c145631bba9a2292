// runtime/KernelCache.h - the on-disk cache of compiled kernels.
//
// Entries are keyed by a hash of the kernel's text, the target (CPU name and
// features) and the kiln version, so a second run compiles nothing. Each entry
// is written atomically (temp file + rename) with a header holding its length
// and a checksum; a truncated or corrupt entry reads as a miss (and is
// removed), so it gets rebuilt. Location: KILN_CACHE_DIR, else
// $XDG_CACHE_HOME/kiln, else ~/.cache/kiln; KILN_CACHE=0 disables the cache.
#ifndef KILN_RUNTIME_KERNELCACHE_H
#define KILN_RUNTIME_KERNELCACHE_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

/// 128-bit hash of `text` as 32 hex digits (stable across runs and builds).
std::string hashHex(std::string_view text);

class KernelCache {
public:
  /// The cache at the default location (environment), or a disabled cache
  /// when KILN_CACHE=0 or no directory can be created.
  static KernelCache fromEnvironment();
  /// A cache in `dir` (created when missing); disabled when dir is empty.
  explicit KernelCache(std::string dir);

  bool enabled() const { return !dir_.empty(); }
  const std::string &dir() const { return dir_; }

  /// The entry of `key`, or nullopt when absent or corrupt (a corrupt entry is deleted).
  std::optional<std::vector<char>> load(const std::string &key) const;
  /// Stores an entry; failures to write are ignored (the cache is an optimization).
  void store(const std::string &key, const std::vector<char> &data) const;

private:
  std::string path(const std::string &key) const;
  std::string dir_;
};

} // namespace kiln

#endif // KILN_RUNTIME_KERNELCACHE_H
