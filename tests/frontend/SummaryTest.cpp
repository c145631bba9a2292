// tests/frontend/SummaryTest.cpp - the Keras-style summary table and parameter counts.
#include "examples/mnist/Models.h"
#include "frontend/Summary.h"
#include "ir/Error.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

// Expected text written from Keras' print_summary rules (line length 65,
// columns ending at 29/55/65, a cell cut at its column end, the last character
// of a cut column turned into a space), with the counts worked out by hand:
// conv 32*1*5*5+32, 64*32*3*3+64, dense 1600*512+512, 512*128+128, 128*50+50, 50*10+10.
const char *const kCnnSummary =
    "Model: \"cnn\"\n"
    "_________________________________________________________________\n"
    "Layer (type)                 Output Shape              Param #   \n"
    "=================================================================\n"
    "conv2d (Conv2D)              (None, 32, 24, 24)        832       \n"
    "_________________________________________________________________\n"
    "max_pooling2d (MaxPooling2D) (None, 32, 12, 12)        0         \n"
    "_________________________________________________________________\n"
    "conv2d_1 (Conv2D)            (None, 64, 10, 10)        18496     \n"
    "_________________________________________________________________\n"
    "max_pooling2d_1 (MaxPooling2 (None, 64, 5, 5)          0         \n"
    "_________________________________________________________________\n"
    "dropout (Dropout)            (None, 64, 5, 5)          0         \n"
    "_________________________________________________________________\n"
    "flatten (Flatten)            (None, 1600)              0         \n"
    "_________________________________________________________________\n"
    "dense (Dense)                (None, 512)               819712    \n"
    "_________________________________________________________________\n"
    "dense_1 (Dense)              (None, 128)               65664     \n"
    "_________________________________________________________________\n"
    "dense_2 (Dense)              (None, 50)                6450      \n"
    "_________________________________________________________________\n"
    "dropout_1 (Dropout)          (None, 50)                0         \n"
    "_________________________________________________________________\n"
    "dense_3 (Dense)              (None, 10)                510       \n"
    "=================================================================\n"
    "Total params: 911,664\n"
    "Trainable params: 911,664\n"
    "Non-trainable params: 0\n"
    "_________________________________________________________________\n";

TEST(Summary, ReportCnnTableIsExact) {
  Model m = mnist::makeModel("cnn", 1);
  EXPECT_EQ(m.summary(), kCnnSummary);
}

TEST(Summary, ParamCountsOfAllModels) {
  // Hand counts: keras-example 832 + 9248 + (800*128+128) + (128*50+50) + 510;
  // mlp 784*100+100 + 100*10+10; linear 784*10+10.
  EXPECT_EQ(countParams(*mnist::makeNetwork("cnn"), {1, 28, 28}), 911664);
  EXPECT_EQ(countParams(*mnist::makeNetwork("keras-example"), {1, 28, 28}), 832 + 9248 + 102528 + 6450 + 510);
  EXPECT_EQ(countParams(*mnist::makeNetwork("mlp"), {1, 28, 28}), 79510);
  EXPECT_EQ(countParams(*mnist::makeNetwork("linear"), {1, 28, 28}), 7850);
}

TEST(Summary, RowsCarryNchwShapesWithoutBatch) {
  std::vector<SummaryRow> rows = summarize(*mnist::makeNetwork("keras-example"), {1, 28, 28});
  ASSERT_EQ(rows.size(), 9u);
  EXPECT_EQ(rows[2].name, "conv2d_1");
  EXPECT_EQ(rows[2].outputShape, (Shape{32, 10, 10}));
  EXPECT_EQ(rows[5].outputShape, (Shape{800}));
  EXPECT_EQ(rows[8].type, "Dense");
}

TEST(Summary, ThousandsSeparators) {
  EXPECT_EQ(withThousands(0), "0");
  EXPECT_EQ(withThousands(999), "999");
  EXPECT_EQ(withThousands(1000), "1,000");
  EXPECT_EQ(withThousands(911664), "911,664");
  EXPECT_EQ(withThousands(1234567), "1,234,567");
  EXPECT_EQ(withThousands(-4321), "-4,321");
}

TEST(Summary, UnknownModelNamesTheChoices) {
  try {
    mnist::makeNetwork("resnet");
    FAIL() << "expected a UserError";
  } catch (const UserError &e) {
    EXPECT_NE(std::string(e.what()).find("unknown model 'resnet'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("keras-example"), std::string::npos) << e.what();
  }
}

} // namespace
} // namespace kiln
