// runtime/Mnist.h - finds and loads the MNIST dataset (or any dataset in its IDX layout).
//
// The four files are train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each gzip-compressed
// (`.gz`, as published) or plain. The folder is `--data DIR` when given, else
// $MNIST_DIR, else ./data/mnist; a missing file is a RuntimeError that names
// the folder, how it was chosen, and the script that downloads the files.
#ifndef KILN_RUNTIME_MNIST_H
#define KILN_RUNTIME_MNIST_H

#include "ir/HostTensor.h"

#include <string>

namespace kiln {

/// One split: images scaled to [0,1] and their labels.
struct MnistSplit {
  HostTensor x; ///< f32[N,1,rows,cols] (rows = cols = 28 for MNIST), pixel / 255
  HostTensor y; ///< i32[N], the class of each image
  int64_t size() const { return x.shape().empty() ? 0 : x.shape()[0]; }
};

/// Both splits and the folder they came from.
struct MnistData {
  MnistSplit train; ///< 60,000 images for MNIST
  MnistSplit test;  ///< 10,000 images for MNIST
  std::string dir;
};

/// The folder to read: `dataFlag` if non-empty, else $MNIST_DIR if set and
/// non-empty, else "data/mnist". `how`, when given, receives how it was chosen
/// ("--data", "$MNIST_DIR" or "the default").
std::string mnistDataDir(const std::string &dataFlag, std::string *how = nullptr);

/// Loads one split ("train" or "t10k") from `dir`. RuntimeError when a file is
/// missing or malformed, or when images and labels disagree in count.
MnistSplit loadMnistSplit(const std::string &dir, const std::string &prefix);

/// Finds the folder (see mnistDataDir) and loads both splits.
MnistData loadMnist(const std::string &dataFlag = "");

} // namespace kiln

#endif // KILN_RUNTIME_MNIST_H
