// runtime/KernelCache.cpp - on-disk kernel cache: hashing, checked reads, atomic writes.
#include "runtime/KernelCache.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace kiln {

namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'O', 'B', 'J', '1'};

/// 64-bit hash: FNV-1a over the bytes, finished by a splitmix64 mix.
uint64_t hash64(std::string_view s, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ULL ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

struct Header {
  char magic[8];
  uint64_t size;
  uint64_t checksum;
};

} // namespace

std::string hashHex(std::string_view text) {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(hash64(text, 0)),
                static_cast<unsigned long long>(hash64(text, 0x9e3779b97f4a7c15ULL)));
  return buf;
}

KernelCache KernelCache::fromEnvironment() {
  const char *off = std::getenv("KILN_CACHE");
  if (off && std::string_view(off) == "0")
    return KernelCache("");
  std::string dir;
  if (const char *d = std::getenv("KILN_CACHE_DIR"); d && *d)
    dir = d;
  else if (const char *x = std::getenv("XDG_CACHE_HOME"); x && *x)
    dir = std::string(x) + "/kiln";
  else if (const char *h = std::getenv("HOME"); h && *h)
    dir = std::string(h) + "/.cache/kiln";
  return KernelCache(dir);
}

KernelCache::KernelCache(std::string dir) : dir_(std::move(dir)) {
  if (dir_.empty())
    return;
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec || !std::filesystem::is_directory(dir_, ec))
    dir_.clear();
}

std::string KernelCache::path(const std::string &key) const { return dir_ + "/" + key + ".o"; }

std::optional<std::vector<char>> KernelCache::load(const std::string &key) const {
  if (!enabled())
    return std::nullopt;
  std::string p = path(key);
  std::ifstream in(p, std::ios::binary);
  if (!in)
    return std::nullopt;
  Header h{};
  std::vector<char> data;
  bool ok = static_cast<bool>(in.read(reinterpret_cast<char *>(&h), sizeof h)) &&
            std::memcmp(h.magic, kMagic, sizeof kMagic) == 0 && h.size < (1ULL << 32);
  if (ok) {
    data.resize(h.size);
    ok = static_cast<bool>(in.read(data.data(), static_cast<std::streamsize>(h.size))) && in.peek() == EOF &&
         hash64(std::string_view(data.data(), data.size()), 1) == h.checksum;
  }
  if (!ok) {
    std::error_code ec;
    std::filesystem::remove(p, ec);
    return std::nullopt;
  }
  return data;
}

void KernelCache::store(const std::string &key, const std::vector<char> &data) const {
  if (!enabled())
    return;
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.size = data.size();
  h.checksum = hash64(std::string_view(data.data(), data.size()), 1);
  std::string tmp = path(key) + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      return;
    out.write(reinterpret_cast<const char *>(&h), sizeof h);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out) {
      out.close();
      std::remove(tmp.c_str());
      return;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path(key), ec);
  if (ec)
    std::filesystem::remove(tmp, ec);
}

} // namespace kiln
