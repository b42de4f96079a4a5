//===- SafetensorsTest.cpp - BF16/F16/F64 and sharded safetensors ---------===//
//
// The files are written byte by byte here, so the test does not share the
// reader's idea of the format: dtypes converted on load (exact values:
// each of these halves and bfloat16s is an fp32 number), sharded checkpoints
// through model.safetensors.index.json, and the errors.
//
//===----------------------------------------------------------------------===//
#include "runtime/train/Checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sys/stat.h>

using namespace motif::rt;

namespace {
struct Raw {
  std::string name, dtype, shape;
  std::string bytes;
};

template <typename T> std::string bytesOf(std::initializer_list<T> v) {
  std::string s;
  for (T x : v)
    s.append(reinterpret_cast<const char *>(&x), sizeof(T));
  return s;
}

void writeSafetensors(const std::string &path, const std::vector<Raw> &ts) {
  std::string header = "{", data;
  for (const Raw &t : ts) {
    header += (header.size() > 1 ? "," : "") + std::string("\"") + t.name + "\":{\"dtype\":\"" +
              t.dtype + "\",\"shape\":" + t.shape + ",\"data_offsets\":[" +
              std::to_string(data.size()) + "," + std::to_string(data.size() + t.bytes.size()) +
              "]}";
    data += t.bytes;
  }
  header += "}";
  uint64_t n = header.size();
  std::ofstream os(path, std::ios::binary);
  os.write(reinterpret_cast<const char *>(&n), 8);
  os << header << data;
}

std::string tempDir(const std::string &name) {
  std::string d = ::testing::TempDir() + "/motif_st_" + name;
  ::mkdir(d.c_str(), 0755);
  return d;
}

TEST(Safetensors, HalfTypesConvertOnLoad) {
  std::string dir = tempDir("dtypes");
  writeSafetensors(dir + "/m.safetensors",
                   {// bf16: 1.5, -2, 0.10009765625 (0x3DCD), 3.0e38-ish (0x7F61)
                    {"b", "BF16", "[2,2]", bytesOf<uint16_t>({0x3FC0, 0xC000, 0x3DCD, 0x7F61})},
                    // f16: 1.5, -0.333251953125 (0xB555), 65504 (max), 2^-24 (subnormal), -0
                    {"h", "F16", "[5]", bytesOf<uint16_t>({0x3E00, 0xB555, 0x7BFF, 0x0001, 0x8000})},
                    {"d", "F64", "[2]", bytesOf<double>({0.25, -1e10})},
                    {"f", "F32", "[1]", bytesOf<float>({7.5f})}});
  auto c = loadCheckpoint(dir + "/m.safetensors");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  const Checkpoint::Tensor *b = c->find("b"), *h = c->find("h"), *d = c->find("d"),
                           *f = c->find("f");
  ASSERT_TRUE(b && h && d && f);
  EXPECT_EQ(b->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(b->data, (std::vector<float>{1.5f, -2.0f, 0.10009765625f, 0x1.C2p+127f}));
  EXPECT_EQ(h->data[0], 1.5f);
  EXPECT_EQ(h->data[1], -0.333251953125f);
  EXPECT_EQ(h->data[2], 65504.0f);
  EXPECT_EQ(h->data[3], std::ldexp(1.0f, -24));
  EXPECT_EQ(h->data[4], 0.0f);
  EXPECT_TRUE(std::signbit(h->data[4]));
  EXPECT_EQ(d->data, (std::vector<float>{0.25f, -1e10f}));
  EXPECT_EQ(f->data, (std::vector<float>{7.5f}));
}

TEST(Safetensors, ShardedThroughIndex) {
  std::string dir = tempDir("sharded");
  writeSafetensors(dir + "/model-00001-of-00002.safetensors",
                   {{"a", "BF16", "[2]", bytesOf<uint16_t>({0x3F80, 0x4000})},
                    {"unlisted", "F32", "[1]", bytesOf<float>({1.0f})}});
  writeSafetensors(dir + "/model-00002-of-00002.safetensors",
                   {{"b", "F16", "[1,1]", bytesOf<uint16_t>({0x4200})}});
  std::ofstream(dir + "/model.safetensors.index.json")
      << R"({"metadata": {"total_size": 6}, "weight_map": {
             "a": "model-00001-of-00002.safetensors",
             "b": "model-00002-of-00002.safetensors"}})";
  for (std::string p : {dir, dir + "/model.safetensors.index.json"}) {
    auto c = loadCheckpoint(p);
    ASSERT_TRUE(c.isOk()) << c.status().message();
    ASSERT_EQ(c->tensors.size(), 2u); // what the index lists, in its order
    EXPECT_EQ(c->tensors[0].first, "a");
    EXPECT_EQ(c->tensors[0].second.data, (std::vector<float>{1.0f, 2.0f}));
    EXPECT_EQ(c->tensors[1].first, "b");
    EXPECT_EQ(c->tensors[1].second.shape, (std::vector<int64_t>{1, 1}));
    EXPECT_EQ(c->tensors[1].second.data, (std::vector<float>{3.0f}));
  }
  // A tensor the index puts in a shard that lacks it.
  std::ofstream(dir + "/bad.index.json")
      << R"({"weight_map": {"a": "model-00002-of-00002.safetensors"}})";
  auto bad = loadCheckpoint(dir + "/bad.index.json");
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find(
                "tensor 'a' is not in its shard 'model-00002-of-00002.safetensors'"),
            std::string::npos)
      << bad.status().message();
  // A missing shard names the file.
  std::ofstream(dir + "/gone.index.json") << R"({"weight_map": {"a": "nope.safetensors"}})";
  auto gone = loadCheckpoint(dir + "/gone.index.json");
  ASSERT_FALSE(gone.isOk());
  EXPECT_NE(gone.status().message().find("nope.safetensors"), std::string::npos);
}

TEST(Safetensors, Errors) {
  std::string dir = tempDir("errors");
  writeSafetensors(dir + "/i8.safetensors", {{"q", "I8", "[2]", std::string("\x01\x02", 2)}});
  auto i8 = loadCheckpoint(dir + "/i8.safetensors");
  ASSERT_FALSE(i8.isOk());
  EXPECT_NE(i8.status().message().find("tensor 'q' has dtype I8; checkpoints are read from "
                                       "F32, BF16, F16 or F64 tensors"),
            std::string::npos)
      << i8.status().message();
  // A BF16 tensor whose byte count is that of F32 data.
  writeSafetensors(dir + "/size.safetensors", {{"s", "BF16", "[1]", bytesOf<float>({1.0f})}});
  auto size = loadCheckpoint(dir + "/size.safetensors");
  ASSERT_FALSE(size.isOk());
  EXPECT_NE(size.status().message().find("wrong size"), std::string::npos);
  // A non-finite half.
  writeSafetensors(dir + "/inf.safetensors", {{"x", "F16", "[1]", bytesOf<uint16_t>({0x7C00})}});
  auto inf = loadCheckpoint(dir + "/inf.safetensors");
  ASSERT_FALSE(inf.isOk());
  EXPECT_NE(inf.status().message().find("non-finite"), std::string::npos);
  auto empty = loadCheckpoint(dir);
  ASSERT_FALSE(empty.isOk());
  EXPECT_NE(empty.status().message().find("neither model.safetensors"), std::string::npos);
}
} // namespace
