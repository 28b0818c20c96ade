// The device interpreter's fast pooling (converter/device/int_kernels.cc: MaxPool on the bytes
// through a 256-entry table, the int32 plane path for the averages) gives the bits of the scalar
// definition on random shapes: kernel sizes, strides, pads, dilations, odd widths, signed and
// unsigned codes, zero points at the extremes, identity and non-identity requantization, fused
// clamps, rows up to 150 wide; both requantization roundings; with one thread and with two.
#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>

#include "converter/device/int_kernels.h"
#include "converter/exec/thread_pool.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

device::Attr intsAttr(const char* name, std::vector<int64_t> v) {
  device::Attr a;
  a.name = name;
  a.kind = device::AttrKind::Ints;
  a.ints = std::move(v);
  return a;
}

TEST(IntPool, FastEqualsScalar) {
  test::SplitMix64 rng(31);
  ThreadPool two(2);
  for (int trial = 0; trial < 400; ++trial) {
    const bool isMax = trial % 4 != 3;
    const int64_t N = rng.pick(1, 2), C = rng.pick(1, 5), H = rng.pick(1, 23);
    int64_t W = rng.pick(1, trial % 4 == 0 ? 150 : 41);  // wide rows: the 32-byte steps and their tails
    int64_t kh = rng.pick(1, std::min<int64_t>(4, H)), kw = rng.pick(1, std::min<int64_t>(5, W));
    int64_t sh = rng.pick(1, 3), sw = rng.pick(1, 4);
    int64_t dh = rng.uniform() < 0.8 ? 1 : 2, dw = rng.uniform() < 0.8 ? 1 : 2;
    int64_t pt = rng.pick(0, kh - 1), pb = rng.pick(0, kh - 1), pl = rng.pick(0, kw - 1), pr = rng.pick(0, kw - 1);
    // resnet's stem MaxPool (3x3, stride 2, border 1; the AVX-512 VBMI path up to 128 columns) on
    // every width around its two registers, and past them (the general path).
    const bool stem = isMax && trial % 5 == 1;
    if (stem) kh = kw = 3, sh = sw = 2, dh = dw = 1, pt = pl = 1, pb = rng.pick(0, 1), pr = rng.pick(0, 1), W = rng.pick(1, 140);
    const int64_t OH = (H + pt + pb - ((kh - 1) * dh + 1)) / sh + 1, OW = (W + pl + pr - ((kw - 1) * dw + 1)) / sw + 1;
    if (OH < 1 || OW < 1) continue;
    const bool ux = rng.uniform() < 0.6, uy = rng.uniform() < 0.6;
    device::Tensor xt, yt;
    xt.dtype = ux ? DType::U8 : DType::I8;
    yt.dtype = uy ? DType::U8 : DType::I8;
    xt.dims = {N, C, H, W};
    yt.dims = {N, C, OH, OW};
    device::QuantParams xq, yq;
    const int32_t lo = uy ? 0 : -128, hi = uy ? 255 : 127;
    const double u = rng.uniform();
    xq.zeroPoints = {u < 0.2 ? (ux ? 0 : -128) : u < 0.4 ? (ux ? 255 : 127) : rng.pick(ux ? 0 : -128, ux ? 255 : 127)};
    device::FixedMultiplier f = device::quantizeMultiplier(std::exp2(rng.uniform() * 6 - 3));
    const bool identity = (stem || rng.uniform() < 0.3) && ux == uy;
    if (identity) f = {1 << 30, 1};
    yq.zeroPoints = {identity ? xq.zeroPoints[0] : rng.pick(lo, hi)};
    xq.scales = yq.scales = {1.0f};
    device::Op op;
    op.code = isMax ? device::OpCode::MaxPool : device::OpCode::AveragePool;
    op.actMin = rng.uniform() < 0.7 || stem ? lo : rng.pick(lo, (lo + hi) / 2);
    op.actMax = rng.uniform() < 0.7 || stem ? hi : rng.pick(op.actMin, hi);
    op.attrs = {intsAttr("kernel_shape", {kh, kw}), intsAttr("strides", {sh, sw}), intsAttr("pads", {pt, pl, pb, pr}),
                intsAttr("dilations", {dh, dw}), intsAttr("multiplier", {f.multiplier}), intsAttr("shift", {f.shift})};
    std::vector<std::byte> x(static_cast<size_t>(N * C * H * W));
    for (std::byte& b : x) b = static_cast<std::byte>(rng.next() & 0xFF);
    const size_t yn = static_cast<size_t>(N * C * OH * OW);
    std::vector<std::byte> want(yn), got(yn);
    const device::TensorView xv{&xt, x.data(), &xq};
    const device::TensorView wv{&yt, want.data(), &yq}, gv{&yt, got.data(), &yq};
    const std::string what = fmt::format("{} x {}x{}x{}x{} {} k {}x{} s {}x{} d {}x{} pads {},{},{},{} zx {} m {} sh {} identity {}",
                                         isMax ? "max" : "avg", N, C, H, W, ux ? "u8" : "s8", kh, kw, sh, sw, dh, dw, pt, pl, pb, pr,
                                         xq.zeroPoints[0], f.multiplier, f.shift, identity);
    if (!isMax) {
      // The averages' multiplier folds 1 / count in (the writer's job); any value is fine here.
      op.attrs.push_back(intsAttr("count_include_pad", {0}));
    }
    for (device::Rounding rounding : {device::Rounding::Single, device::Rounding::Double}) {
      device::runPool(op, xv, wv, rounding, false, nullptr);
      for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &two}) {
        std::fill(got.begin(), got.end(), std::byte{0xAB});
        device::runPool(op, xv, gv, rounding, true, pool);
        ASSERT_TRUE(got == want) << what << (pool ? " (2 threads)" : " (1 thread)") << " rounding "
                                 << device::roundingName(rounding);
      }
    }
  }
}

// GlobalAveragePool's fast path (one sum per plane, one requantization per run of channels): the
// scalar definition's bits on planes from 1x1 to 67x91, signed and unsigned, both roundings, one
// and two threads, with clamps.
TEST(IntPool, GlobalAverageFastEqualsScalar) {
  test::SplitMix64 rng(57);
  ThreadPool two(2);
  for (int trial = 0; trial < 120; ++trial) {
    const int64_t N = rng.pick(1, 2), C = rng.pick(1, 600), H = rng.pick(1, trial % 10 ? 9 : 67),
                  W = rng.pick(1, trial % 10 ? 9 : 91);
    const bool ux = rng.uniform() < 0.6, uy = rng.uniform() < 0.6;
    device::Tensor xt, yt;
    xt.dtype = ux ? DType::U8 : DType::I8;
    yt.dtype = uy ? DType::U8 : DType::I8;
    xt.dims = {N, C, H, W};
    yt.dims = {N, C, 1, 1};
    device::QuantParams xq, yq;
    const int32_t lo = uy ? 0 : -128, hi = uy ? 255 : 127;
    xq.zeroPoints = {rng.pick(ux ? 0 : -128, ux ? 255 : 127)};
    yq.zeroPoints = {rng.pick(lo, hi)};
    xq.scales = yq.scales = {1.0f};
    const device::FixedMultiplier f = device::quantizeMultiplier(std::exp2(rng.uniform() * 6 - 3) / static_cast<double>(H * W));
    device::Op op;
    op.code = device::OpCode::GlobalAveragePool;
    op.actMin = rng.uniform() < 0.7 ? lo : rng.pick(lo, (lo + hi) / 2);
    op.actMax = rng.uniform() < 0.7 ? hi : rng.pick(op.actMin, hi);
    op.attrs = {intsAttr("multiplier", {f.multiplier}), intsAttr("shift", {f.shift})};
    std::vector<std::byte> x(static_cast<size_t>(N * C * H * W));
    for (std::byte& b : x) b = static_cast<std::byte>(rng.next() & 0xFF);
    const size_t yn = static_cast<size_t>(N * C);
    std::vector<std::byte> want(yn), got(yn);
    const device::TensorView xv{&xt, x.data(), &xq};
    const device::TensorView wv{&yt, want.data(), &yq}, gv{&yt, got.data(), &yq};
    for (device::Rounding rounding : {device::Rounding::Single, device::Rounding::Double}) {
      device::runPool(op, xv, wv, rounding, false, nullptr);
      for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &two}) {
        std::fill(got.begin(), got.end(), std::byte{0xAB});
        device::runPool(op, xv, gv, rounding, true, pool);
        ASSERT_TRUE(got == want) << N << "x" << C << "x" << H << "x" << W << (ux ? " u8" : " s8") << " zx " << xq.zeroPoints[0]
                                 << (pool ? " (2 threads)" : " (1 thread)") << " rounding " << device::roundingName(rounding);
      }
    }
  }
}

}  // namespace
}  // namespace npuconv
