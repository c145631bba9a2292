// runtime/Mnist.cpp - locating and loading the MNIST IDX files.
#include "runtime/Mnist.h"

#include "ir/Error.h"
#include "runtime/Idx.h"

#include <cstdlib>
#include <filesystem>

namespace kiln {
namespace {

namespace fs = std::filesystem;

/// The path of `base` in `dir`: `base.gz` if present, else plain `base`, else empty.
std::string findFile(const std::string &dir, const std::string &base) {
  for (const std::string &name : {base + ".gz", base}) {
    fs::path p = fs::path(dir) / name;
    std::error_code ec;
    if (fs::is_regular_file(p, ec))
      return p.string();
  }
  return {};
}

std::string requireFile(const std::string &dir, const std::string &base) {
  std::string path = findFile(dir, base);
  if (!path.empty())
    return path;
  std::error_code ec;
  bool dirExists = fs::is_directory(dir, ec);
  KILN_RUNTIME_ERROR() << "mnist: " << base << ".gz not found in " << dir
                       << (dirExists ? "" : " (the folder does not exist)")
                       << " (the folder is --data DIR, else $MNIST_DIR, else ./data/mnist); "
                       << "download the dataset with `scripts/download_mnist.sh " << dir << "`";
  return {};
}

} // namespace

std::string mnistDataDir(const std::string &dataFlag, std::string *how) {
  auto say = [&](const char *s) {
    if (how)
      *how = s;
  };
  if (!dataFlag.empty()) {
    say("--data");
    return dataFlag;
  }
  if (const char *env = std::getenv("MNIST_DIR"); env && *env) {
    say("$MNIST_DIR");
    return env;
  }
  say("the default");
  return "data/mnist";
}

MnistSplit loadMnistSplit(const std::string &dir, const std::string &prefix) {
  std::string imagesPath = requireFile(dir, prefix + "-images-idx3-ubyte");
  std::string labelsPath = requireFile(dir, prefix + "-labels-idx1-ubyte");
  HostTensor images = readIdxImages(imagesPath);
  HostTensor labels = readIdxLabels(labelsPath);
  int64_t n = images.shape()[0], rows = images.shape()[1], cols = images.shape()[2];
  KILN_RUNTIME_CHECK(labels.shape()[0] == n)
      << "mnist: " << imagesPath << " holds " << n << " images but " << labelsPath << " holds "
      << labels.shape()[0] << " labels";

  MnistSplit s;
  s.x = HostTensor(TensorType{DType::F32, {n, 1, rows, cols}});
  const auto *px = reinterpret_cast<const uint8_t *>(images.bytes());
  float *x = s.x.data<float>();
  for (int64_t i = 0; i < images.numel(); ++i)
    x[i] = static_cast<float>(px[i]) / 255.0f;
  s.y = HostTensor(TensorType{DType::I32, {n}});
  const auto *lb = reinterpret_cast<const uint8_t *>(labels.bytes());
  int32_t *y = s.y.data<int32_t>();
  for (int64_t i = 0; i < n; ++i)
    y[i] = lb[i];
  return s;
}

MnistData loadMnist(const std::string &dataFlag) {
  MnistData d;
  d.dir = mnistDataDir(dataFlag);
  d.train = loadMnistSplit(d.dir, "train");
  d.test = loadMnistSplit(d.dir, "t10k");
  return d;
}

} // namespace kiln
