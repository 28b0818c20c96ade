// Calibration data from tensors: .npy, .npz and HDF5 sources, the stacking rules, binding by
// input name, dtype conversion, sample selection, rewind, the content key and the errors.
#include <gtest/gtest.h>

#include <fstream>

#include "formats/calib/calib_data.h"
#include "formats/hdf5/hdf5.h"
#include "formats/npy/npy.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

std::vector<NamedTensors> drain(SampleStream& s) {
  std::vector<NamedTensors> out;
  for (;;) {
    auto n = s.next();
    EXPECT_TRUE(n.hasValue()) << n.status().toString();
    if (!n || !*n) break;
    out.push_back(std::move(**n));
  }
  return out;
}

std::unique_ptr<SampleStream> open(CalibDataOptions opt, const std::vector<ModelInputSpec>& inputs) {
  auto s = openCalibData(opt, inputs);
  EXPECT_TRUE(s.hasValue()) << s.status().toString();
  return s ? std::move(*s) : nullptr;
}

std::string openError(CalibDataOptions opt, const std::vector<ModelInputSpec>& inputs) {
  auto s = openCalibData(opt, inputs);
  EXPECT_FALSE(s.hasValue());
  return s ? "" : s.status().message();
}

CalibDataOptions paths(std::vector<fs::path> p) {
  CalibDataOptions o;
  o.paths = std::move(p);
  return o;
}

/// v[i] = base + i for a float32 array.
std::vector<float> ramp(size_t n, float base) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = base + static_cast<float>(i);
  return v;
}

TEST(CalibNpyTest, StackOnAxisZeroYieldsEachSample) {
  fs::path dir = test::tempDir("calib_npy_stack");
  auto v = ramp(4 * 2 * 3, 0);
  ASSERT_TRUE(writeNpy(dir / "x.npy", DType::F32, std::vector<int64_t>{4, 1, 2, 3}, v.data()).isOk());
  auto s = open(paths({dir / "x.npy"}), {{"x", DType::F32, {1, 2, 3}}});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->size(), 4u);
  auto all = drain(*s);
  ASSERT_EQ(all.size(), 4u);
  for (size_t k = 0; k < 4; ++k) {
    const Tensor& t = all[k].at("x");
    EXPECT_EQ(t.dims(), (std::vector<int64_t>{1, 2, 3}));
    auto got = t.span<float>();
    for (size_t i = 0; i < 6; ++i) EXPECT_EQ(got[i], static_cast<float>(k * 6 + i));
  }
  EXPECT_EQ(s->describe(), (dir / "x.npy").string() + " (1 input, 4 samples)");
}

TEST(CalibNpyTest, BatchAxisStackGivesBatchOneSamples) {
  fs::path dir = test::tempDir("calib_npy_batch");
  auto v = ramp(3 * 2 * 2, 10);
  ASSERT_TRUE(writeNpy(dir / "x.npy", DType::F32, std::vector<int64_t>{3, 2, 2}, v.data()).isOk());
  auto s = open(paths({dir / "x.npy"}), {{"x", DType::F32, {1, 2, 2}}});
  ASSERT_TRUE(s);
  auto all = drain(*s);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].at("x").dims(), (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(all[2].at("x").span<float>()[3], 10.0f + 8 + 3);
}

TEST(CalibNpyTest, MatchingArrayIsOneSampleAndDynamicDimsMatchAnything) {
  fs::path dir = test::tempDir("calib_npy_one");
  auto v = ramp(2 * 5, 0);
  ASSERT_TRUE(writeNpy(dir / "x.npy", DType::F32, std::vector<int64_t>{2, 5}, v.data()).isOk());
  // Dynamic batch: the whole array is one sample of batch 2.
  auto s = open(paths({dir / "x.npy"}), {{"x", DType::F32, {-1, 5}}});
  ASSERT_TRUE(s);
  auto all = drain(*s);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].at("x").dims(), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(all[0].at("x").span<float>()[9], 9.0f);
}

TEST(CalibNpyTest, ConvertsFloat64AndInt32AndRefusesOtherDtypes) {
  fs::path dir = test::tempDir("calib_npy_dtype");
  std::vector<double> d = {0.5, -1.25, 3e10};
  ASSERT_TRUE(writeNpy(dir / "d.npy", DType::F64, std::vector<int64_t>{3, 1}, d.data()).isOk());
  auto s = open(paths({dir / "d.npy"}), {{"x", DType::F32, {1}}});
  ASSERT_TRUE(s);
  auto all = drain(*s);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].at("x").dtype(), DType::F32);
  EXPECT_EQ(all[1].at("x").span<float>()[0], -1.25f);
  EXPECT_EQ(all[2].at("x").span<float>()[0], 3e10f);

  std::vector<int32_t> i32 = {7, -8};
  ASSERT_TRUE(writeNpy(dir / "i.npy", DType::I32, std::vector<int64_t>{2, 1}, i32.data()).isOk());
  auto si = open(paths({dir / "i.npy"}), {{"ids", DType::I64, {1}}});
  ASSERT_TRUE(si);
  auto ai = drain(*si);
  ASSERT_EQ(ai.size(), 2u);
  EXPECT_EQ(ai[1].at("ids").span<int64_t>()[0], -8);

  std::vector<int64_t> big = {int64_t{1} << 40};
  ASSERT_TRUE(writeNpy(dir / "big.npy", DType::I64, std::vector<int64_t>{1}, big.data()).isOk());
  auto sb = open(paths({dir / "big.npy"}), {{"ids", DType::I32, {1}}});
  ASSERT_TRUE(sb);
  auto n = sb->next();
  ASSERT_FALSE(n.hasValue());
  EXPECT_NE(n.status().message().find("does not fit the int32 input"), std::string::npos) << n.status().message();

  std::vector<uint16_t> h = {0x3c00};
  ASSERT_TRUE(writeNpy(dir / "h.npy", DType::F16, std::vector<int64_t>{1}, h.data()).isOk());
  EXPECT_EQ(openError(paths({dir / "h.npy"}), {{"x", DType::F32, {1}}}),
            (dir / "h.npy").string() +
                ": input \"x\": the data is float16, the model input is float32 (only float64->float32, "
                "float32/64->float16 and int32<->int64 are converted; save the array as float32)");
}

TEST(CalibNpyTest, WrongShapeSaysWhatWasGivenAndExpected) {
  fs::path dir = test::tempDir("calib_npy_shape");
  auto v = ramp(2 * 3 * 4, 0);
  ASSERT_TRUE(writeNpy(dir / "x.npy", DType::F32, std::vector<int64_t>{2, 3, 4}, v.data()).isOk());
  EXPECT_EQ(openError(paths({dir / "x.npy"}), {{"x", DType::F32, {1, 3, 5}}}),
            (dir / "x.npy").string() +
                ": input \"x\": the data is f32[2,3,4], the model expects f32[1,3,5] (one sample), [N,1,3,5] (a stack "
                "of samples on axis 0) or [N,3,5] (batch-1 samples along the batch axis)");
}

TEST(CalibNpyTest, SingleInputOnlyAndEmptyStacksAndMissingFiles) {
  fs::path dir = test::tempDir("calib_npy_errors");
  float one = 1;
  ASSERT_TRUE(writeNpy(dir / "x.npy", DType::F32, std::vector<int64_t>{1}, &one).isOk());
  std::string m = openError(paths({dir / "x.npy"}), {{"a", DType::F32, {1}}, {"b", DType::F32, {1}}});
  EXPECT_NE(m.find("a .npy file feeds a single-input model; this model has 2 inputs"), std::string::npos) << m;
  ASSERT_TRUE(writeNpy(dir / "empty.npy", DType::F32, std::vector<int64_t>{0, 1}, nullptr).isOk());
  EXPECT_EQ(openError(paths({dir / "empty.npy"}), {{"a", DType::F32, {1}}}),
            (dir / "empty.npy").string() + ": no calibration samples (0 in the data)");
  EXPECT_EQ(openError(paths({dir / "nope.npy"}), {{"a", DType::F32, {1}}}), (dir / "nope.npy").string() + ": no such file or folder");
  std::ofstream(dir / "x.csv") << "1,2\n";
  m = openError(paths({dir / "x.csv"}), {{"a", DType::F32, {1}}});
  EXPECT_NE(m.find("x.csv: unknown calibration data extension \".csv\""), std::string::npos) << m;
}

TEST(CalibNpyTest, SkipAndMaxSelectSamplesAndRewindRepeatsThem) {
  fs::path dir = test::tempDir("calib_npy_select");
  auto v = ramp(10, 0);
  ASSERT_TRUE(writeNpy(dir / "x.npy", DType::F32, std::vector<int64_t>{10, 1}, v.data()).isOk());
  CalibDataOptions o = paths({dir / "x.npy"});
  o.skipSamples = 3;
  o.maxSamples = 4;
  auto s = open(o, {{"x", DType::F32, {1}}});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->size(), 4u);
  EXPECT_EQ(s->describe(), (dir / "x.npy").string() + " (1 input, 4 samples of 10)");
  for (int round = 0; round < 2; ++round) {
    auto all = drain(*s);
    ASSERT_EQ(all.size(), 4u);
    for (size_t k = 0; k < 4; ++k) EXPECT_EQ(all[k].at("x").span<float>()[0], 3.0f + static_cast<float>(k));
    ASSERT_TRUE(s->rewind().isOk());
  }
  o.skipSamples = 10;
  EXPECT_EQ(openError(o, {{"x", DType::F32, {1}}}),
            (dir / "x.npy").string() + ": no calibration samples: 10 in all, the first 10 skipped");
}

void expectTwoInputs(const fs::path& file) {
  // a[k] = k * 100 + arange(6).reshape(2, 3) * 0.5, b[k] = k - 2 + arange(4) (scripts/gen_calib_fixtures.py).
  CalibDataOptions o = paths({file});
  o.skipSamples = 1;
  // Inputs listed in the other order than the archive: binding is by name.
  auto s = open(o, {{"b", DType::I64, {1, 4}}, {"a", DType::F32, {2, 3}}});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->size(), 4u);
  for (int round = 0; round < 2; ++round) {
    auto all = drain(*s);
    ASSERT_EQ(all.size(), 4u);
    for (size_t j = 0; j < 4; ++j) {
      int64_t k = static_cast<int64_t>(j) + 1;
      auto a = all[j].at("a").span<float>();
      for (size_t i = 0; i < 6; ++i) EXPECT_EQ(a[i], static_cast<float>(k * 100) + 0.5f * static_cast<float>(i));
      EXPECT_EQ(all[j].at("b").dims(), (std::vector<int64_t>{1, 4}));
      auto b = all[j].at("b").span<int64_t>();
      for (size_t i = 0; i < 4; ++i) EXPECT_EQ(b[i], k - 2 + static_cast<int64_t>(i));
    }
    ASSERT_TRUE(s->rewind().isOk());
  }
}

TEST(CalibNpzTest, StoredArchiveBindsArraysByName) { expectTwoInputs(test::testdata("calib/two_inputs_stored.npz")); }
TEST(CalibNpzTest, DeflatedArchiveStreamsArraysByName) { expectTwoInputs(test::testdata("calib/two_inputs_deflated.npz")); }

TEST(CalibNpzTest, MissingMemberNamesTheAvailableOnes) {
  fs::path f = test::testdata("calib/two_inputs_deflated.npz");
  EXPECT_EQ(openError(paths({f}), {{"a", DType::F32, {2, 3}}, {"mask", DType::I64, {4}}}),
            f.string() + ": input \"mask\": no array \"mask\" in the archive (it has \"a\", \"b\")");
  // b has 5 samples of [4]; a, read as a [3] input, is one sample per [2,3] row pair: no fit.
  std::string m = openError(paths({f}), {{"a", DType::F32, {3}}});
  EXPECT_NE(m.find(f.string() + ": a.npy: input \"a\": the data is f32[5,2,3]"), std::string::npos) << m;
}

TEST(CalibNpzTest, InputsMustAgreeOnTheSampleCount) {
  fs::path f = test::testdata("calib/two_inputs_stored.npz");
  // a as one sample of [5,2,3], b as 5 samples.
  EXPECT_EQ(openError(paths({f}), {{"a", DType::F32, {5, 2, 3}}, {"b", DType::I64, {4}}}),
            f.string() + ": the inputs disagree on the sample count: \"a\" has 1, \"b\" has 5");
}

TEST(CalibHdf5Test, DatasetsPerInputReadSampleBySample) {
  fs::path dir = test::tempDir("calib_h5");
  auto xv = ramp(6 * 2 * 2, 0);
  std::vector<int32_t> mv = {1, 0, 1, 1, 0, 0};
  NamedTensorList list = {
      {"x", std::make_shared<const TensorData>(TensorData::fromValues<float>(DType::F32, {6, 2, 2}, xv))},
      {"mask", std::make_shared<const TensorData>(TensorData::fromValues<int32_t>(DType::I32, {6, 1}, mv))},
  };
  ASSERT_TRUE(writeHdf5(dir / "c.h5", list).isOk());
  CalibDataOptions o = paths({dir / "c.h5"});
  o.maxSamples = 5;
  // x: batch-1 samples along the batch axis; mask: a stack of [1] samples converted to int64.
  auto s = open(o, {{"x", DType::F32, {1, 2, 2}}, {"mask", DType::I64, {1}}});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->size(), 5u);
  auto all = drain(*s);
  ASSERT_EQ(all.size(), 5u);
  for (size_t k = 0; k < 5; ++k) {
    EXPECT_EQ(all[k].at("x").dims(), (std::vector<int64_t>{1, 2, 2}));
    for (size_t i = 0; i < 4; ++i) EXPECT_EQ(all[k].at("x").span<float>()[i], static_cast<float>(k * 4 + i));
    EXPECT_EQ(all[k].at("mask").span<int64_t>()[0], mv[k]);
  }
  EXPECT_EQ(s->describe(), (dir / "c.h5").string() + " (2 inputs, 5 samples of 6)");
  EXPECT_EQ(openError(paths({dir / "c.h5"}), {{"ids", DType::I64, {1}}}),
            (dir / "c.h5").string() + ": input \"ids\": no dataset \"ids\" in the file (it has \"mask\", \"x\")");
}

TEST(CalibKeyTest, ChangesWithBytesNamesOrderAndOptionsOnly) {
  fs::path dir = test::tempDir("calib_key");
  auto v = ramp(4, 0);
  ASSERT_TRUE(writeNpy(dir / "a.npy", DType::F32, std::vector<int64_t>{4}, v.data()).isOk());
  ASSERT_TRUE(writeNpy(dir / "b.npy", DType::F32, std::vector<int64_t>{4}, v.data()).isOk());
  auto key = [](CalibDataOptions o) {
    auto k = calibDataKey(o);
    EXPECT_TRUE(k.hasValue()) << k.status().toString();
    return k ? *k : std::string();
  };
  std::string base = key(paths({dir / "a.npy"}));
  EXPECT_EQ(base.size(), 16u);
  EXPECT_EQ(base.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(key(paths({dir / "a.npy"})), base);
  EXPECT_NE(key(paths({dir / "b.npy"})), base);  // same bytes, other name
  EXPECT_NE(key(paths({dir / "a.npy", dir / "b.npy"})), key(paths({dir / "b.npy", dir / "a.npy"})));
  CalibDataOptions o = paths({dir / "a.npy"});
  o.maxSamples = 2;
  EXPECT_NE(key(o), base);
  o = paths({dir / "a.npy"});
  o.mean = {1};
  EXPECT_NE(key(o), base);
  o = paths({dir / "a.npy"});
  o.bgr = true;
  EXPECT_NE(key(o), base);
  v[3] = 7;
  ASSERT_TRUE(writeNpy(dir / "a.npy", DType::F32, std::vector<int64_t>{4}, v.data()).isOk());
  EXPECT_NE(key(paths({dir / "a.npy"})), base);
  // A dataset list covers the files it names.
  std::ofstream(dir / "list.txt") << "b.npy\n";
  std::string listKey = key(paths({dir / "list.txt"}));
  v[0] = 9;
  ASSERT_TRUE(writeNpy(dir / "b.npy", DType::F32, std::vector<int64_t>{4}, v.data()).isOk());
  EXPECT_NE(key(paths({dir / "list.txt"})), listKey);
  auto missing = calibDataKey(paths({dir / "nope.npy"}));
  ASSERT_FALSE(missing.hasValue());
  EXPECT_EQ(missing.status().message(), (dir / "nope.npy").string() + ": no such file or folder");
}

}  // namespace
}  // namespace npuconv
