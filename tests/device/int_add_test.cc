// The device interpreter's QAdd (converter/device/int_kernels.cc): the AVX2 and AVX-512 paths give
// the scalar definition's bytes on random lengths (tails), signed and unsigned codes, zero points
// at the extremes, input multipliers with and without a left shift (the AVX-512 path adds plainly
// when neither has one: the sum cannot leave int32) and the largest left_shift, both roundings,
// one and two threads.
#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>

#include "converter/device/int_kernels.h"
#include "converter/exec/thread_pool.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

device::Attr addAttr(const char* name, std::vector<int64_t> v) {
  device::Attr a;
  a.name = name;
  a.kind = v.size() == 1 && std::string(name) == "left_shift" ? device::AttrKind::Int : device::AttrKind::Ints;
  a.ints = std::move(v);
  return a;
}

TEST(IntAdd, FastEqualsScalar) {
  test::SplitMix64 rng(41);
  ThreadPool two(2);
  std::vector<device::Int8Isa> isas;
  for (device::Int8Isa i : {device::Int8Isa::Avx2, device::Int8Isa::Avx512Vnni})
    if (device::int8IsaAvailable(i)) isas.push_back(i);
  if (isas.empty()) GTEST_SKIP() << "no AVX2 here";
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t n = trial % 5 == 0 ? rng.pick(5000, 20000) : rng.pick(1, 300);
    const bool ua = rng.uniform() < 0.6, ub = rng.uniform() < 0.6, uy = rng.uniform() < 0.6;
    device::Tensor at, bt, yt;
    at.dtype = ua ? DType::U8 : DType::I8;
    bt.dtype = ub ? DType::U8 : DType::I8;
    yt.dtype = uy ? DType::U8 : DType::I8;
    at.dims = bt.dims = yt.dims = {n};
    auto zp = [&](bool u) {
      const double v = rng.uniform();
      return v < 0.2 ? (u ? 0 : -128) : v < 0.4 ? (u ? 255 : 127) : rng.pick(u ? 0 : -128, u ? 255 : 127);
    };
    device::QuantParams aq, bq, yq;
    aq.zeroPoints = {zp(ua)};
    bq.zeroPoints = {zp(ub)};
    yq.zeroPoints = {zp(uy)};
    aq.scales = bq.scales = yq.scales = {1.0f};
    const int64_t left = trial % 3 == 0 ? 20 : rng.pick(0, 20);
    // Input multipliers below 1 (the converter's) most of the time; sometimes with a left shift,
    // where the sum can saturate.
    auto inMult = [&] {
      return device::quantizeMultiplier(rng.uniform() < 0.8 ? 0.05 + 0.45 * rng.uniform() : 1.0 + 300.0 * rng.uniform());
    };
    const device::FixedMultiplier fa = inMult(), fb = inMult();
    const device::FixedMultiplier fo = device::quantizeMultiplier(std::exp2(rng.uniform() * 10 - 25));
    device::Op op;
    op.code = device::OpCode::Add;
    const int32_t lo = uy ? 0 : -128, hi = uy ? 255 : 127;
    op.actMin = rng.uniform() < 0.7 ? lo : rng.pick(lo, (lo + hi) / 2);
    op.actMax = rng.uniform() < 0.7 ? hi : rng.pick(op.actMin, hi);
    op.attrs = {addAttr("left_shift", {left}), addAttr("multiplier", {fa.multiplier, fb.multiplier, fo.multiplier}),
                addAttr("shift", {fa.shift, fb.shift, fo.shift})};
    std::vector<std::byte> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    for (std::byte& v : a) v = static_cast<std::byte>(rng.next() & 0xFF);
    for (std::byte& v : b) v = static_cast<std::byte>(rng.next() & 0xFF);
    std::vector<std::byte> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
    const device::TensorView av{&at, a.data(), &aq}, bv{&bt, b.data(), &bq};
    const device::TensorView wv{&yt, want.data(), &yq}, gv{&yt, got.data(), &yq};
    for (device::Rounding rounding : {device::Rounding::Single, device::Rounding::Double}) {
      device::runAdd(op, av, bv, wv, rounding, device::Int8Isa::Scalar, nullptr);
      for (device::Int8Isa isa : isas)
        for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &two}) {
          std::fill(got.begin(), got.end(), std::byte{0xAB});
          device::runAdd(op, av, bv, gv, rounding, isa, pool);
          ASSERT_TRUE(got == want) << fmt::format("n {} left {} ma {}/{} mb {}/{} mo {}/{} {} {}", n, left, fa.multiplier, fa.shift,
                                                  fb.multiplier, fb.shift, fo.multiplier, fo.shift, device::int8IsaName(isa),
                                                  device::roundingName(rounding))
                                   << (pool ? " (2 threads)" : "");
        }
    }
  }
}

}  // namespace
}  // namespace npuconv
