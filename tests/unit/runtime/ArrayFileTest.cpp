//===- ArrayFileTest.cpp - .npy, .npz and safetensors arrays ---------------===//
#include "runtime/train/ArrayFile.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

using namespace motif::rt;

namespace {
std::string tempPath(const std::string &name) {
  return std::string(::testing::TempDir()) + "motif-arrayfile-" + name;
}
void writeFile(const std::string &p, const std::string &bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}
/// A version 1.0 .npy: magic, header padded to 64 bytes, data.
std::string npy(const std::string &descr, const std::string &shape, const std::string &data,
                bool fortran = false) {
  std::string h = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                  ", 'shape': " + shape + ", }";
  while ((10 + h.size() + 1) % 64)
    h += ' ';
  h += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  uint16_t len = static_cast<uint16_t>(h.size());
  out.append(reinterpret_cast<const char *>(&len), 2);
  return out + h + data;
}
template <typename T> std::string bytesOf(std::initializer_list<T> v) {
  std::string s(v.size() * sizeof(T), '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}
} // namespace

TEST(ArrayFile, NpyFloatsIntsAndHalves) {
  std::string p = tempPath("x.npy");
  writeFile(p, npy("<f8", "(2, 3)", bytesOf<double>({1, 2, 3, 4, 5, 6.5})));
  auto a = readArrays(p);
  ASSERT_TRUE(a.isOk()) << a.status().message();
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ((*a)[0].name, "motif-arrayfile-x");
  EXPECT_EQ((*a)[0].shape, (Shape{2, 3}));
  EXPECT_FALSE((*a)[0].isInt);
  EXPECT_EQ((*a)[0].f, (std::vector<float>{1, 2, 3, 4, 5, 6.5f}));

  writeFile(p, npy("|u1", "(3,)", std::string("\x00\x07\xff", 3)));
  a = readArrays(p);
  ASSERT_TRUE(a.isOk()) << a.status().message();
  EXPECT_TRUE((*a)[0].isInt);
  EXPECT_EQ((*a)[0].i, (std::vector<int32_t>{0, 7, 255}));

  // 1.0, -2.0, the smallest subnormal half, inf.
  writeFile(p, npy("<f2", "(4,)", bytesOf<uint16_t>({0x3c00, 0xc000, 0x0001, 0x7c00})));
  a = readArrays(p);
  ASSERT_TRUE(a.isOk()) << a.status().message();
  EXPECT_EQ((*a)[0].f[0], 1.0f);
  EXPECT_EQ((*a)[0].f[1], -2.0f);
  EXPECT_EQ((*a)[0].f[2], 5.9604644775390625e-08f);
  EXPECT_TRUE(std::isinf((*a)[0].f[3]));
}

TEST(ArrayFile, RefusesWhatItCannotRead) {
  std::string p = tempPath("bad.npy");
  writeFile(p, npy("<f4", "(2,)", bytesOf<float>({1, 2}), /*fortran=*/true));
  auto a = readArrays(p);
  ASSERT_FALSE(a.isOk());
  EXPECT_NE(a.status().message().find("Fortran order"), std::string::npos) << a.status().message();
  writeFile(p, npy(">f4", "(2,)", bytesOf<float>({1, 2})));
  a = readArrays(p);
  ASSERT_FALSE(a.isOk());
  EXPECT_NE(a.status().message().find("little-endian"), std::string::npos) << a.status().message();
  writeFile(p, npy("<f4", "(3,)", bytesOf<float>({1, 2})));
  a = readArrays(p);
  ASSERT_FALSE(a.isOk());
  EXPECT_NE(a.status().message().find("truncated"), std::string::npos) << a.status().message();
  writeFile(p, npy("<i8", "(1,)", bytesOf<int64_t>({int64_t(1) << 40})));
  a = readArrays(p);
  ASSERT_FALSE(a.isOk());
  EXPECT_NE(a.status().message().find("outside the int32 range"), std::string::npos)
      << a.status().message();
  std::string z = tempPath("bad.npz");
  writeFile(z, "not a zip archive at all, just some text");
  a = readArrays(z);
  ASSERT_FALSE(a.isOk());
  EXPECT_NE(a.status().message().find("not a zip archive"), std::string::npos)
      << a.status().message();
}

TEST(ArrayFile, SafetensorsHeaderChecks) {
  std::string p = tempPath("x.safetensors");
  auto file = [](const std::string &header, const std::string &data) {
    uint64_t n = header.size();
    return std::string(reinterpret_cast<const char *>(&n), 8) + header + data;
  };
  writeFile(p, file(R"({"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})",
                    bytesOf<uint16_t>({0x3f80, 0xc040})));
  auto a = readArrays(p);
  ASSERT_TRUE(a.isOk()) << a.status().message();
  EXPECT_EQ((*a)[0].f, (std::vector<float>{1.0f, -3.0f}));
  writeFile(p, file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "abcd"));
  a = readArrays(p);
  ASSERT_FALSE(a.isOk());
  EXPECT_NE(a.status().message().find("its shape and dtype need 8"), std::string::npos)
      << a.status().message();
  writeFile(p, file(R"({"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", "abcdefgh"));
  a = readArrays(p);
  ASSERT_FALSE(a.isOk());
  EXPECT_NE(a.status().message().find("dtype C64"), std::string::npos) << a.status().message();
  writeFile(p, file("{not json", ""));
  a = readArrays(p);
  ASSERT_FALSE(a.isOk());
  EXPECT_NE(a.status().message().find("bad safetensors header"), std::string::npos)
      << a.status().message();
}
