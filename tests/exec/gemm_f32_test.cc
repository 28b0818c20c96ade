// gemm_f32_test.cc - the packed float32 GEMM against a naive double-precision reference, on
// both microkernels (AVX2 forced, and AVX-512 when the CPU has it), edge sizes, transposes,
// strided C, alpha/beta and every fused epilogue.
#include "converter/exec/kernels/gemm_f32.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "converter/exec/thread_pool.h"

namespace npuconv {
namespace {

using gemm::Act;
using gemm::Epilogue;
using gemm::Isa;

double refAct(double v, const Epilogue& e) {
  switch (e.act) {
    case Act::None: return v;
    case Act::Relu: return v > 0 ? v : 0;
    case Act::Clip: return std::min<double>(std::max<double>(v, e.p0), e.p1);
    case Act::LeakyRelu: return v < 0 ? e.p0 * v : v;
    case Act::HardSigmoid: return std::max(0.0, std::min(1.0, e.p0 * v + e.p1));
    case Act::HardSwish: return v * std::max(0.0, std::min(1.0, v / 6 + 0.5));
    case Act::Sigmoid: return 1.0 / (1.0 + std::exp(-v));
    case Act::ClipHardSwish: return v * std::max(0.0, std::min(6.0, v + 3)) / 6;
  }
  return v;
}

struct GemmCase {
  int64_t M, N, K;
  bool tA, tB;
  float alpha, beta;
  int64_t ldcPad;
  Epilogue ep;
};

/// Runs one case and returns the max abs error relative to the reference's scale.
void runCase(const GemmCase& c, ThreadPool* pool, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  int64_t lda = (c.tA ? c.M : c.K) + 3, ldb = (c.tB ? c.K : c.N) + 5, ldc = c.N + c.ldcPad;
  int64_t aRows = c.tA ? c.K : c.M, bRows = c.tB ? c.N : c.K;
  std::vector<float> A(size_t(std::max<int64_t>(aRows * lda, 1))), B(size_t(std::max<int64_t>(bRows * ldb, 1)));
  std::vector<float> C(size_t(c.M * ldc));
  for (auto& v : A) v = d(rng);
  for (auto& v : B) v = d(rng);
  for (auto& v : C) v = d(rng);
  std::vector<float> bias(size_t(std::max(c.M, c.N)));
  for (auto& v : bias) v = d(rng);
  Epilogue ep = c.ep;
  if (ep.bias) ep.bias = bias.data();
  std::vector<float> C0 = C;
  if (c.beta == 0.0f)  // beta == 0 must not read C: poison it
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j) C[size_t(i * ldc + j)] = NAN;
  gemm::sgemm(pool, c.tA, c.tB, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C.data(), ldc, ep);
  double worst = 0;
  for (int64_t i = 0; i < c.M; ++i) {
    for (int64_t j = 0; j < c.N; ++j) {
      double s = 0, mag = 0;
      for (int64_t k = 0; k < c.K; ++k) {
        double a = c.tA ? A[size_t(k * lda + i)] : A[size_t(i * lda + k)];
        double b = c.tB ? B[size_t(j * ldb + k)] : B[size_t(k * ldb + j)];
        s += a * b;
        mag += std::fabs(a * b);
      }
      double v = double(c.alpha) * s;
      if (c.beta != 0.0f) v += double(c.beta) * C0[size_t(i * ldc + j)];
      if (ep.bias) v += ep.biasPerRow ? bias[size_t(i)] : bias[size_t(j)];
      double want = refAct(v, ep);
      double got = C[size_t(i * ldc + j)];
      double tol = 1e-5 * (mag * std::fabs(c.alpha) + 2.0) + 1e-6;
      double err = std::fabs(got - want);
      if (!(err <= tol)) {
        ADD_FAILURE() << "M=" << c.M << " N=" << c.N << " K=" << c.K << " tA=" << c.tA << " tB=" << c.tB
                      << " alpha=" << c.alpha << " beta=" << c.beta << " act=" << int(ep.act) << " at (" << i << ","
                      << j << "): got " << got << " want " << want;
        return;
      }
      worst = std::max(worst, err);
    }
    // Padding between rows of C is never written.
    for (int64_t j = c.N; j < ldc; ++j) ASSERT_EQ(C[size_t(i * ldc + j)], C0[size_t(i * ldc + j)]);
  }
}

std::vector<GemmCase> cases() {
  std::vector<GemmCase> out;
  const int64_t sizes[][3] = {{1, 1, 1},   {1, 17, 5},   {7, 1, 9},    {6, 16, 8},   {12, 32, 4},   {13, 33, 3},
                              {5, 7, 0},   {31, 47, 300}, {64, 64, 64}, {100, 3, 513}, {3, 100, 200}, {150, 70, 257},
                              {25, 200, 1}, {145, 97, 33}, {200, 300, 70}, {1, 1000, 200},
                              {3, 700, 300}, {4, 50, 40}, {40, 1, 300}, {600, 1, 400}};
  for (auto& s : sizes)
    for (int t = 0; t < 4; ++t) {
      GemmCase c{s[0], s[1], s[2], (t & 1) != 0, (t & 2) != 0, 1.0f, 0.0f, 0, {}};
      out.push_back(c);
    }
  GemmCase c{37, 41, 29, false, false, 0.5f, 1.0f, 3, {}};
  out.push_back(c);
  c.beta = -0.75f;
  out.push_back(c);
  c.tA = c.tB = true;
  c.M = 130;
  c.N = 300;
  c.K = 200;
  out.push_back(c);
  c.alpha = 0.0f;
  out.push_back(c);
  const Act acts[] = {Act::None, Act::Relu, Act::Clip, Act::LeakyRelu, Act::HardSigmoid, Act::HardSwish, Act::Sigmoid};
  for (Act a : acts)
    for (int perRow = 0; perRow < 2; ++perRow) {
      GemmCase e{50, 70, 300, false, perRow == 0, 1.0f, perRow ? 0.0f : 0.5f, 2, {}};
      e.ep.act = a;
      e.ep.bias = reinterpret_cast<const float*>(1);  // replaced by runCase
      e.ep.biasPerRow = perRow != 0;
      if (a == Act::Clip) {
        e.ep.p0 = -0.5f;
        e.ep.p1 = 0.7f;
      } else if (a == Act::LeakyRelu) {
        e.ep.p0 = 0.1f;
      } else if (a == Act::HardSigmoid) {
        e.ep.p0 = 0.2f;
        e.ep.p1 = 0.5f;
      }
      out.push_back(e);
      e.K = 0;
      out.push_back(e);
    }
  return out;
}

class GemmF32Test : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (GetParam() == Isa::Avx512 && !gemm::cpuHasAvx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
    gemm::setIsa(GetParam());
  }
  void TearDown() override { gemm::setIsa(Isa::Auto); }
};

TEST_P(GemmF32Test, MatchesDoubleReferenceSingleThread) {
  ASSERT_EQ(gemm::activeIsa(), GetParam());
  std::mt19937 rng(1234);
  for (const GemmCase& c : cases()) runCase(c, nullptr, rng);
}

TEST_P(GemmF32Test, MatchesDoubleReferenceThreaded) {
  ThreadPool pool(3);
  std::mt19937 rng(99);
  for (const GemmCase& c : cases()) runCase(c, &pool, rng);
}

INSTANTIATE_TEST_SUITE_P(Isa, GemmF32Test, ::testing::Values(Isa::Avx2, Isa::Avx512),
                         [](const auto& info) { return info.param == Isa::Avx2 ? "Avx2" : "Avx512"; });

TEST(GemmF32, Avx512EdgeColumnsMatchAvx2Bitwise) {
  // The AVX-512 kernel computes a tile's last columns and rows (N not a multiple of 32, M not
  // one of 12) with masked stores, and its None / Relu / Clip epilogue on 16 lanes; the AVX2
  // kernel (tile buffer and
  // 8-lane epilogue) sums each element in the same order for K up to both K blocks (192), so the
  // two must agree bit for bit: bias per row and per column, a residual, accumulation (beta 1),
  // direct (small N) and packed A, one and two threads; last row tiles of 1, 4 and 8 rows (the
  // masked kernel then computes 4 or 8 rows instead of 12).
  if (!gemm::cpuHasAvx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  std::mt19937 rng(77);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  ThreadPool pool(2);
  struct Shape {
    int64_t M, N, K;
  };
  for (const Shape& sh : {Shape{24, 49, 96}, Shape{36, 196, 16}, Shape{12, 7, 5}, Shape{96, 1232, 24},
                          Shape{13, 45, 40}, Shape{48, 100, 192}, Shape{24, 31, 1},
                          Shape{16, 300, 27}, Shape{20, 77, 33}, Shape{64, 50, 40}})
    for (Act act : {Act::None, Act::Relu, Act::Clip, Act::LeakyRelu, Act::HardSigmoid, Act::HardSwish, Act::Sigmoid,
                    Act::ClipHardSwish})
      for (int variant = 0; variant < 4; ++variant) {
        SCOPED_TRACE(std::to_string(sh.M) + "x" + std::to_string(sh.N) + "x" + std::to_string(sh.K) + " act " +
                     std::to_string(int(act)) + " variant " + std::to_string(variant));
        const int64_t ldc = sh.N + 3;
        std::vector<float> A(size_t(sh.M * sh.K)), B(size_t(sh.K * sh.N)), C0(size_t(sh.M * ldc)), bias(size_t(sh.M + sh.N)),
            res(size_t(sh.M * sh.N));
        for (auto* v : {&A, &B, &C0, &bias, &res})
          for (float& x : *v) x = d(rng) * 4.0f;
        Epilogue ep;
        ep.act = act;
        ep.p0 = -0.5f;
        ep.p1 = 0.75f;
        ep.bias = bias.data();
        ep.biasPerRow = variant != 1;
        if (variant == 2) {
          ep.residual = res.data();
          ep.ldr = sh.N;
        }
        const float beta = variant == 3 ? 1.0f : 0.0f;
        std::vector<float> want = C0, got = C0;
        gemm::setIsa(Isa::Avx2);
        gemm::sgemm(variant == 3 ? &pool : nullptr, false, false, sh.M, sh.N, sh.K, 1.0f, A.data(), sh.K, B.data(), sh.N,
                    beta, want.data(), ldc, ep);
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
          got = C0;
          gemm::setIsa(Isa::Avx512);
          gemm::sgemm(p, false, false, sh.M, sh.N, sh.K, 1.0f, A.data(), sh.K, B.data(), sh.N, beta, got.data(), ldc, ep);
          gemm::setIsa(Isa::Auto);
          size_t diff = 0;
          for (size_t i = 0; i < want.size(); ++i) diff += std::memcmp(&want[i], &got[i], sizeof(float)) != 0;
          EXPECT_EQ(diff, 0u) << (p ? "2 threads" : "1 thread");
        }
      }
  gemm::setIsa(Isa::Auto);
}

TEST(GemmF32, EnvDisablesAvx512OnlyWhenSet) {
  // Auto picks AVX-512 exactly when the CPU has it and NPUCONV_NO_AVX512 is unset (or "0").
  const char* env = std::getenv("NPUCONV_NO_AVX512");
  bool disabled = env && *env && std::string(env) != "0";
  gemm::setIsa(Isa::Auto);
  EXPECT_EQ(gemm::activeIsa(), gemm::cpuHasAvx512() && !disabled ? Isa::Avx512 : Isa::Avx2);
}

}  // namespace
}  // namespace npuconv
