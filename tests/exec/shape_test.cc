// Shape-family kernels against naive index arithmetic written here: every expectation is
// computed in the test from the op's definition, not copied from our own output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "converter/exec/executor.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

Tensor i64(std::vector<int64_t> dims, const std::vector<int64_t>& v) {
  return Tensor::fromValues<int64_t>(DType::I64, std::move(dims), std::span<const int64_t>(v));
}
std::vector<float> iota(int64_t n, float start = 0) {
  std::vector<float> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), start);
  return v;
}
std::vector<int64_t> strides(const std::vector<int64_t>& d) {
  std::vector<int64_t> s(d.size(), 1);
  for (size_t i = d.size(); i-- > 1;) s[i - 1] = s[i] * d[i];
  return s;
}

Expected<NamedTensors> tryRun(const std::string& text, const NamedTensors& inputs, int threads = 2) {
  Model m = test::parseModel(text);
  NPU_ASSIGN_OR_RETURN(auto exec, Executor::create(m, ExecOptions{threads}));
  return exec->run(inputs);
}

NamedTensors run(const std::string& text, const NamedTensors& inputs, int threads = 2) {
  auto out = tryRun(text, inputs, threads);
  EXPECT_TRUE(out.hasValue()) << out.status().toString();
  return out ? *out : NamedTensors{};
}

std::vector<float> floats(const Tensor& t) { return std::vector<float>(t.data<float>(), t.data<float>() + t.numElements()); }
std::vector<int64_t> ints(const Tensor& t) { return t.toInt64s(); }

TEST(ShapeKernels, SliceNegativeStepsAndClamping) {
  // x[3,5]: rows 2..0 step -2 (rows 2, 0), cols from 100 (clamped to 4) down to -1000
  // (clamped, so through col 0) step -3: cols 4, 1.
  auto out = run(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3,5] x, int64[2] s, int64[2] e, int64[2] a, int64[2] st) => (float[2,2] y) {
      y = Slice(x, s, e, a, st)
    })",
                 {{"x", test::f32Tensor({3, 5}, iota(15))},
                  {"s", i64({2}, {-1, 100})},
                  {"e", i64({2}, {-1000, -1000})},
                  {"a", i64({2}, {0, -1})},
                  {"st", i64({2}, {-2, -3})}});
  const Tensor& y = out["y"];
  ASSERT_EQ(y.dims(), (std::vector<int64_t>{2, 2}));
  std::vector<float> want;
  for (int r : {2, 0})
    for (int c : {4, 1}) want.push_back(float(r * 5 + c));
  EXPECT_EQ(floats(y), want);
}

TEST(ShapeKernels, SliceOpset1Attributes) {
  auto out = run(R"(<ir_version: 3, opset_import: ["" : 9]>
    g (float[4,6] x) => (float[2,3] y) {
      y = Slice<starts = [1, 2], ends = [3, -1], axes = [0, 1]>(x)
    })",
                 {{"x", test::f32Tensor({4, 6}, iota(24))}});
  std::vector<float> want;
  for (int r = 1; r < 3; ++r)
    for (int c = 2; c < 5; ++c) want.push_back(float(r * 6 + c));
  EXPECT_EQ(floats(out["y"]), want);
}

/// Naive transpose of a [d...] float tensor.
std::vector<float> naiveTranspose(const std::vector<float>& x, const std::vector<int64_t>& dims,
                                  const std::vector<int64_t>& perm) {
  std::vector<int64_t> od(dims.size());
  for (size_t i = 0; i < perm.size(); ++i) od[i] = dims[size_t(perm[i])];
  std::vector<int64_t> is = strides(dims), os = strides(od);
  std::vector<float> y(x.size());
  for (size_t lin = 0; lin < y.size(); ++lin) {
    int64_t rem = int64_t(lin), src = 0;
    for (size_t i = 0; i < od.size(); ++i) {
      int64_t c = rem / os[i];
      rem %= os[i];
      src += c * is[size_t(perm[i])];
    }
    y[lin] = x[size_t(src)];
  }
  return y;
}

TEST(ShapeKernels, TransposeAllPermutationsLargeAndSmall) {
  std::mt19937 rng(7);
  for (std::vector<int64_t> dims : {std::vector<int64_t>{2, 3, 4, 5}, std::vector<int64_t>{3, 64, 96, 40}}) {
    std::vector<float> x(size_t(std::accumulate(dims.begin(), dims.end(), int64_t(1), std::multiplies<>())));
    for (float& v : x) v = float(rng() % 100000);
    std::vector<int64_t> perm = {0, 1, 2, 3};
    do {
      std::string text = fmt::format(R"(<ir_version: 8, opset_import: ["" : 13]>
        g (float[{}] x) => (float y) {{ y = Transpose<perm = [{}]>(x) }})",
                                     fmt::join(dims, ","), fmt::join(perm, ","));
      auto out = run(text, {{"x", test::f32Tensor(dims, x)}});
      ASSERT_EQ(floats(out["y"]), naiveTranspose(x, dims, perm)) << fmt::format("perm {}", fmt::join(perm, ","));
    } while (std::next_permutation(perm.begin(), perm.end()));
  }
}

TEST(ShapeKernels, TransposeFloat16AndBoolMoveBytes) {
  std::vector<uint16_t> h(6);
  for (size_t i = 0; i < 6; ++i) h[i] = floatToHalf(float(i) + 0.5f);
  Tensor x = Tensor::fromValues<uint16_t>(DType::F16, {2, 3}, std::span<const uint16_t>(h));
  auto out = run(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float16[2,3] x) => (float16[3,2] y) { y = Transpose(x) })",
                 {{"x", x}});
  const Tensor& y = out["y"];
  ASSERT_EQ(y.dtype(), DType::F16);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 2; ++c) EXPECT_EQ(halfToFloat(y.data<uint16_t>()[r * 2 + c]), float(c * 3 + r) + 0.5f);
}

TEST(ShapeKernels, ReshapeInfersAndAliases) {
  Model m = test::parseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,3,4] x, int64[3] s) => (float y) { y = Reshape(x, s) })");
  auto exec = Executor::create(m, ExecOptions{1});
  ASSERT_TRUE(exec.hasValue()) << exec.status().toString();
  Tensor x = test::f32Tensor({2, 3, 4}, iota(24));
  auto out = (*exec)->run({{"x", x}, {"s", i64({3}, {0, -1, 2})}});
  ASSERT_TRUE(out.hasValue()) << out.status().toString();
  EXPECT_EQ(out->at("y").dims(), (std::vector<int64_t>{2, 6, 2}));
  EXPECT_EQ(out->at("y").raw(), x.raw()) << "Reshape should alias its input";
  // Two -1s and a size mismatch are errors naming the node, not aborts.
  EXPECT_FALSE((*exec)->run({{"x", x}, {"s", i64({3}, {-1, -1, 2})}}).hasValue());
  EXPECT_FALSE((*exec)->run({{"x", x}, {"s", i64({3}, {5, 1, 1})}}).hasValue());
}

TEST(ShapeKernels, ReshapeAllowZero) {
  auto out = run(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[0,3] x, int64[2] s) => (float y) { y = Reshape<allowzero = 1>(x, s) })",
                 {{"x", test::f32Tensor({0, 3}, {})}, {"s", i64({2}, {3, 0})}});
  EXPECT_EQ(out["y"].dims(), (std::vector<int64_t>{3, 0}));
}

TEST(ShapeKernels, UnsqueezeAttributeAndInputForms) {
  auto a = run(R"(<ir_version: 7, opset_import: ["" : 11]>
    g (float[3,4] x) => (float y) { y = Unsqueeze<axes = [0, -1]>(x) })",
               {{"x", test::f32Tensor({3, 4}, iota(12))}});
  EXPECT_EQ(a["y"].dims(), (std::vector<int64_t>{1, 3, 4, 1}));
  auto b = run(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3,4] x, int64[2] ax) => (float y) { y = Unsqueeze(x, ax) })",
               {{"x", test::f32Tensor({3, 4}, iota(12))}, {"ax", i64({2}, {3, 1})}});
  EXPECT_EQ(b["y"].dims(), (std::vector<int64_t>{3, 1, 4, 1}));
  EXPECT_EQ(floats(b["y"]), iota(12));
}

TEST(ShapeKernels, SplitNumOutputsUneven) {
  auto out = run(R"(<ir_version: 8, opset_import: ["" : 18]>
    g (float[7,2] x) => (float a, float b, float c) { a, b, c = Split<axis = 0, num_outputs = 3>(x) })",
                 {{"x", test::f32Tensor({7, 2}, iota(14))}});
  // ceil(7/3) = 3: sizes 3, 3, 1.
  EXPECT_EQ(floats(out["a"]), iota(6, 0));
  EXPECT_EQ(floats(out["b"]), iota(6, 6));
  EXPECT_EQ(floats(out["c"]), iota(2, 12));
}

TEST(ShapeKernels, SplitAttributeForm) {
  auto out = run(R"(<ir_version: 7, opset_import: ["" : 11]>
    g (float[2,5] x) => (float a, float b) { a, b = Split<axis = 1, split = [2, 3]>(x) })",
                 {{"x", test::f32Tensor({2, 5}, iota(10))}});
  EXPECT_EQ(floats(out["a"]), (std::vector<float>{0, 1, 5, 6}));
  EXPECT_EQ(floats(out["b"]), (std::vector<float>{2, 3, 4, 7, 8, 9}));
}

TEST(ShapeKernels, ConcatAxis1) {
  auto out = run(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,2] a, float[2,3] b) => (float y) { y = Concat<axis = -1>(a, b) })",
                 {{"a", test::f32Tensor({2, 2}, iota(4))}, {"b", test::f32Tensor({2, 3}, iota(6, 10))}});
  EXPECT_EQ(floats(out["y"]), (std::vector<float>{0, 1, 10, 11, 12, 2, 3, 13, 14, 15}));
}

std::vector<float> naivePad(const std::vector<float>& x, int64_t R, int64_t C, std::vector<int64_t> pads,
                            const std::string& mode, float value) {
  int64_t oR = R + pads[0] + pads[2], oC = C + pads[1] + pads[3];
  auto mapIdx = [&](int64_t i, int64_t n) -> int64_t {
    if (i >= 0 && i < n) return i;
    if (mode == "constant") return -1;
    if (mode == "edge") return std::clamp<int64_t>(i, 0, n - 1);
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;  // reflect
    return i;
  };
  std::vector<float> y;
  for (int64_t r = 0; r < oR; ++r)
    for (int64_t c = 0; c < oC; ++c) {
      int64_t ir = mapIdx(r - pads[0], R), ic = mapIdx(c - pads[1], C);
      y.push_back(ir < 0 || ic < 0 ? value : x[size_t(ir * C + ic)]);
    }
  return y;
}

TEST(ShapeKernels, PadModesMatchNaive) {
  std::vector<float> x = iota(12, 1);
  for (std::string mode : {"constant", "reflect", "edge"}) {
    std::vector<int64_t> pads = {2, 1, 1, 3};
    std::string text = fmt::format(R"(<ir_version: 8, opset_import: ["" : 13]>
      g (float[3,4] x, int64[4] p, float c) => (float y) {{ y = Pad<mode = "{}">(x, p, c) }})",
                                   mode);
    auto out = run(text, {{"x", test::f32Tensor({3, 4}, x)}, {"p", i64({4}, pads)}, {"c", test::f32Tensor({}, {-7.f})}});
    EXPECT_EQ(floats(out["y"]), naivePad(x, 3, 4, pads, mode, -7.f)) << mode;
  }
  // Opset 2 attribute form with negative pads (cropping).
  auto out = run(R"(<ir_version: 3, opset_import: ["" : 2]>
    g (float[3,4] x) => (float y) { y = Pad<pads = [0, -1, 1, 0], value = 2.5>(x) })",
                 {{"x", test::f32Tensor({3, 4}, x)}});
  std::vector<float> want;
  for (int r = 0; r < 4; ++r)
    for (int c = 1; c < 4; ++c) want.push_back(r < 3 ? x[size_t(r * 4 + c)] : 2.5f);
  EXPECT_EQ(floats(out["y"]), want);
}

TEST(ShapeKernels, GatherNegativeIndicesAndGatherNdBatch) {
  auto g = run(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3,4] x, int64[2,2] i) => (float y) { y = Gather<axis = 1>(x, i) })",
               {{"x", test::f32Tensor({3, 4}, iota(12))}, {"i", i64({2, 2}, {-1, 0, 2, -4})}});
  ASSERT_EQ(g["y"].dims(), (std::vector<int64_t>{3, 2, 2}));
  std::vector<float> want;
  for (int r = 0; r < 3; ++r)
    for (int c : {3, 0, 2, 0}) want.push_back(float(r * 4 + c));
  EXPECT_EQ(floats(g["y"]), want);

  // GatherND, batch_dims = 1: data [2,3,2], indices [2,1,1] -> out [2,1,2] = data[b, idx[b,0,0], :].
  auto nd = run(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3,2] x, int64[2,1,1] i) => (float y) { y = GatherND<batch_dims = 1>(x, i) })",
                {{"x", test::f32Tensor({2, 3, 2}, iota(12))}, {"i", i64({2, 1, 1}, {2, 1})}});
  EXPECT_EQ(nd["y"].dims(), (std::vector<int64_t>{2, 1, 2}));
  EXPECT_EQ(floats(nd["y"]), (std::vector<float>{4, 5, 8, 9}));

  // An out-of-range index is an error, not a crash.
  auto bad = tryRun(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3,4] x, int64[1] i) => (float y) { y = Gather<axis = 0>(x, i) })",
                    {{"x", test::f32Tensor({3, 4}, iota(12))}, {"i", i64({1}, {3})}});
  EXPECT_FALSE(bad.hasValue());
}

TEST(ShapeKernels, ScatterNdAddAndScatterElementsMax) {
  auto s = run(R"(<ir_version: 8, opset_import: ["" : 16]>
    g (float[4] x, int64[3,1] i, float[3] u) => (float y) { y = ScatterND<reduction = "add">(x, i, u) })",
               {{"x", test::f32Tensor({4}, {1, 2, 3, 4})}, {"i", i64({3, 1}, {1, 1, 3})}, {"u", test::f32Tensor({3}, {10, 20, 30})}});
  EXPECT_EQ(floats(s["y"]), (std::vector<float>{1, 32, 3, 34}));
  auto e = run(R"(<ir_version: 8, opset_import: ["" : 18]>
    g (float[2,3] x, int64[2,2] i, float[2,2] u) => (float y) {
      y = ScatterElements<axis = 1, reduction = "max">(x, i, u)
    })",
               {{"x", test::f32Tensor({2, 3}, {5, 5, 5, 5, 5, 5})}, {"i", i64({2, 2}, {0, -1, 1, 1})}, {"u", test::f32Tensor({2, 2}, {9, 1, 2, 7})}});
  EXPECT_EQ(floats(e["y"]), (std::vector<float>{9, 5, 5, 5, 7, 5}));
}

TEST(ShapeKernels, ExpandAndTileMatchNaive) {
  auto ex = run(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3,1] x, int64[3] s) => (float y) { y = Expand(x, s) })",
                {{"x", test::f32Tensor({3, 1}, {1, 2, 3})}, {"s", i64({3}, {2, 1, 4})}});
  ASSERT_EQ(ex["y"].dims(), (std::vector<int64_t>{2, 3, 4}));
  std::vector<float> want;
  for (int b = 0; b < 2; ++b)
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 4; ++c) want.push_back(float(r + 1));
  EXPECT_EQ(floats(ex["y"]), want);

  auto t = run(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3] x, int64[2] r) => (float y) { y = Tile(x, r) })",
               {{"x", test::f32Tensor({2, 3}, iota(6))}, {"r", i64({2}, {2, 3})}});
  ASSERT_EQ(t["y"].dims(), (std::vector<int64_t>{4, 9}));
  want.clear();
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 9; ++c) want.push_back(float((r % 2) * 3 + c % 3));
  EXPECT_EQ(floats(t["y"]), want);
}

TEST(ShapeKernels, DepthToSpaceCrdAndSpaceToDepthRoundTrip) {
  const int64_t N = 1, C = 8, H = 2, W = 3, b = 2;
  std::vector<float> x = iota(N * C * H * W);
  auto out = run(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,8,2,3] x) => (float y, float z) {
      y = DepthToSpace<blocksize = 2, mode = "CRD">(x)
      z = SpaceToDepth<blocksize = 2>(y)
    })",
                 {{"x", test::f32Tensor({N, C, H, W}, x)}});
  // CRD: y[n, c, h*b + i, w*b + j] = x[n, c*b*b + i*b + j, h, w].
  const int64_t c2 = C / (b * b);
  std::vector<float> want(x.size());
  for (int64_t c = 0; c < c2; ++c)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < b; ++i)
        for (int64_t w = 0; w < W; ++w)
          for (int64_t j = 0; j < b; ++j)
            want[size_t(((c * H * b) + h * b + i) * W * b + w * b + j)] = x[size_t(((c * b * b + i * b + j) * H + h) * W + w)];
  EXPECT_EQ(floats(out["y"]), want);
  // SpaceToDepth is the inverse of DCR DepthToSpace; check it against its own formula:
  // z[n, (i*b + j)*C' + c, h, w] = y[n, c, h*b + i, w*b + j].
  std::vector<float> wantZ(x.size());
  for (int64_t c = 0; c < c2; ++c)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < b; ++i)
        for (int64_t w = 0; w < W; ++w)
          for (int64_t j = 0; j < b; ++j)
            wantZ[size_t((((i * b + j) * c2 + c) * H + h) * W + w)] = want[size_t(((c * H * b) + h * b + i) * W * b + w * b + j)];
  EXPECT_EQ(floats(out["z"]), wantZ);
}

TEST(ShapeKernels, TopKSmallestWithTiesAndNonZero) {
  auto out = run(R"(<ir_version: 8, opset_import: ["" : 11]>
    g (float[2,5] x, int64[1] k) => (float v, int64 i, int64 nz) {
      v, i = TopK<largest = 0, axis = 1>(x, k)
      nz = NonZero(x)
    })",
                 {{"x", test::f32Tensor({2, 5}, {3, 1, 2, 1, 0, -1, 4, 4, 0, 9})}, {"k", i64({1}, {3})}});
  EXPECT_EQ(floats(out["v"]), (std::vector<float>{0, 1, 1, -1, 0, 4}));
  EXPECT_EQ(ints(out["i"]), (std::vector<int64_t>{4, 1, 3, 0, 3, 1}));
  // Non-zero positions of x in row-major order: rows then cols.
  EXPECT_EQ(ints(out["nz"]), (std::vector<int64_t>{0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 2, 3, 0, 1, 2, 4}));
}

TEST(ShapeKernels, OneHotTriluRangeConstantOfShape) {
  auto out = run(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (int64[3] ind, int64 depth, float[2] vals, float[3,3] m, int64 k, float s, float l, float d, int64[2] shp)
        => (float oh, float tu, float rg, int32 cs) {
      oh = OneHot<axis = 0>(ind, depth, vals)
      tu = Trilu<upper = 0>(m, k)
      rg = Range(s, l, d)
      cs = ConstantOfShape<value = int32[1] {7}>(shp)
    })",
                 {{"ind", i64({3}, {0, -1, 5})},
                  {"depth", i64({}, {3})},
                  {"vals", test::f32Tensor({2}, {-1, 2})},
                  {"m", test::f32Tensor({3, 3}, iota(9, 1))},
                  {"k", i64({}, {-1})},
                  {"s", test::f32Tensor({}, {1.f})},
                  {"l", test::f32Tensor({}, {2.f})},
                  {"d", test::f32Tensor({}, {0.3f})},
                  {"shp", i64({2}, {2, 2})}});
  // OneHot axis 0: out[k, i] = on when ind[i] (wrapped) == k; index 5 is out of range: all off.
  EXPECT_EQ(floats(out["oh"]), (std::vector<float>{2, -1, -1, -1, -1, -1, -1, 2, -1}));
  // Lower triangle with k = -1: keep j <= i - 1.
  std::vector<float> tu;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) tu.push_back(j <= i - 1 ? float(i * 3 + j + 1) : 0.f);
  EXPECT_EQ(floats(out["tu"]), tu);
  // ceil((2 - 1) / 0.3) = 4 elements.
  ASSERT_EQ(out["rg"].numElements(), 4);
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(out["rg"].data<float>()[i], 1.f + float(i) * 0.3f);
  ASSERT_EQ(out["cs"].dtype(), DType::I32);
  EXPECT_EQ(ints(out["cs"]), (std::vector<int64_t>{7, 7, 7, 7}));
}

TEST(ShapeKernels, CompressReverseSequenceShapeSize) {
  auto out = run(R"(<ir_version: 8, opset_import: ["" : 15]>
    g (float[3,2] x, bool[3] c, int64[2] lens) => (float cp, float rs, int64 sh, int64 sz) {
      cp = Compress<axis = 0>(x, c)
      rs = ReverseSequence<time_axis = 0, batch_axis = 1>(x, lens)
      sh = Shape<start = -1>(x)
      sz = Size(x)
    })",
                 {{"x", test::f32Tensor({3, 2}, iota(6))},
                  {"c", Tensor::fromValues<uint8_t>(DType::Bool, {3}, std::span<const uint8_t>(std::vector<uint8_t>{1, 0, 1}))},
                  {"lens", i64({2}, {3, 2})}});
  EXPECT_EQ(floats(out["cp"]), (std::vector<float>{0, 1, 4, 5}));
  // x[t, b]: batch 0 reversed over 3 steps (0,2,4 -> 4,2,0), batch 1 over 2 (1,3,5 -> 3,1,5).
  EXPECT_EQ(floats(out["rs"]), (std::vector<float>{4, 3, 2, 1, 0, 5}));
  EXPECT_EQ(ints(out["sh"]), (std::vector<int64_t>{2}));
  EXPECT_EQ(ints(out["sz"]), (std::vector<int64_t>{6}));
}

TEST(ShapeKernels, UniqueUnsortedAndAlongAxis) {
  auto out = run(R"(<ir_version: 8, opset_import: ["" : 11]>
    g (float[6] x, float[3,2] m) => (float y, int64 idx, int64 inv, int64 cnt, float ym) {
      y, idx, inv, cnt = Unique<sorted = 0>(x)
      ym = Unique<axis = 0>(m)
    })",
                 {{"x", test::f32Tensor({6}, {2, 1, 1, 3, 4, 3})}, {"m", test::f32Tensor({3, 2}, {1, 0, 0, 1, 1, 0})}});
  // First-occurrence order: 2, 1, 3, 4.
  EXPECT_EQ(floats(out["y"]), (std::vector<float>{2, 1, 3, 4}));
  EXPECT_EQ(ints(out["idx"]), (std::vector<int64_t>{0, 1, 3, 4}));
  EXPECT_EQ(ints(out["inv"]), (std::vector<int64_t>{0, 1, 1, 2, 3, 2}));
  EXPECT_EQ(ints(out["cnt"]), (std::vector<int64_t>{1, 2, 2, 1}));
  // Rows [1,0], [0,1], [1,0]: sorted unique rows [0,1], [1,0].
  EXPECT_EQ(out["ym"].dims(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(floats(out["ym"]), (std::vector<float>{0, 1, 1, 0}));
}

TEST(ShapeKernels, ConstantEyeLikeFlattenSqueeze) {
  auto out = run(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,1,3] x) => (int64 c, int32 e, float f, float sq) {
      c = Constant<value_ints = [4, -5]>()
      e = EyeLike<dtype = 6, k = 1>(f)
      f = Flatten<axis = -1>(x)
      sq = Squeeze(x)
    })",
                 {{"x", test::f32Tensor({2, 1, 3}, iota(6))}});
  EXPECT_EQ(ints(out["c"]), (std::vector<int64_t>{4, -5}));
  EXPECT_EQ(out["f"].dims(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(out["sq"].dims(), (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(out["e"].dtype(), DType::I32);
  std::vector<int64_t> eye;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) eye.push_back(j == i + 1 ? 1 : 0);
  EXPECT_EQ(ints(out["e"]), eye);
}

}  // namespace
}  // namespace npuconv
