// Executor core: buffer reuse, observer, input errors, symbolic dims, subgraphs with outer
// scope values, determinism. Uses its own small kernels (ExecOptions::registry) so it tests the
// executor alone, whatever the real kernels do.
#include "converter/exec/executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <set>
#include <thread>

#include "tests/support/test_util.h"

namespace npuconv {
namespace {

// Test kernels (float32, same shapes). Binary ops accumulate into their output (out += ...),
// so a reused buffer that was not zero-filled would show up as a wrong result.
Status addKernel(KernelContext& ctx) {
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  if (a.dims() != b.dims()) return ctx.fail("shapes differ: {} vs {}", a.describe(), b.describe());
  Tensor& y = ctx.allocate(0, DType::F32, a.dims());
  float* o = y.mutableData<float>();
  ctx.pool().parallelFor(a.numElements(), 1024, [&](int64_t b0, int64_t e0) {
    for (int64_t i = b0; i < e0; ++i) o[i] += a.data<float>()[i];
    for (int64_t i = b0; i < e0; ++i) o[i] += b.data<float>()[i];
  });
  return Status::ok();
}
Status mulKernel(KernelContext& ctx) {
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  Tensor& y = ctx.allocate(0, DType::F32, a.dims());
  float* o = y.mutableData<float>();
  ctx.pool().parallelFor(a.numElements(), 1024, [&](int64_t b0, int64_t e0) {
    for (int64_t i = b0; i < e0; ++i) o[i] += a.data<float>()[i] * b.data<float>()[i];
  });
  return Status::ok();
}
Status negKernel(KernelContext& ctx) {
  const Tensor& a = *ctx.input(0);
  Tensor& y = ctx.allocate(0, DType::F32, a.dims());
  for (int64_t i = 0; i < a.numElements(); ++i) y.mutableData<float>()[i] -= a.data<float>()[i];
  return Status::ok();
}
Status identityKernel(KernelContext& ctx) {  // aliases its input, like Reshape
  ctx.setOutput(0, Tensor::alias(*ctx.input(0), ctx.input(0)->dims()));
  return Status::ok();
}
/// A deterministic-per-thread-count parallel sum: per-chunk partial sums added in chunk order.
Status reduceSumKernel(KernelContext& ctx) {
  const Tensor& a = *ctx.input(0);
  int64_t n = a.numElements();
  int64_t chunks = ctx.pool().size();
  std::vector<float> partial(static_cast<size_t>(chunks));
  int64_t per = (n + chunks - 1) / chunks;
  ctx.pool().parallelFor(chunks, 1, [&](int64_t b0, int64_t e0) {
    for (int64_t c = b0; c < e0; ++c) {
      float s = 0;
      for (int64_t i = c * per; i < std::min(n, (c + 1) * per); ++i) s += a.data<float>()[i];
      partial[static_cast<size_t>(c)] = s;
    }
  });
  float s = 0;
  for (float p : partial) s += p;
  ctx.allocate(0, DType::F32, {}).mutableData<float>()[0] = s;
  return Status::ok();
}
/// If: runs then_branch or else_branch through the executor's subgraph runner.
Status ifKernel(KernelContext& ctx) {
  bool cond = ctx.input(0)->data<uint8_t>()[0] != 0;
  auto branch = ctx.attrs().get<GraphPtr>(cond ? "then_branch" : "else_branch");
  if (!branch || !*branch) return ctx.fail("no branch");
  if (!ctx.subgraphRunner()) return ctx.fail("no subgraph runner");
  auto outs = (*ctx.subgraphRunner())(**branch, {});
  if (!outs) return outs.status();
  for (size_t i = 0; i < outs->size(); ++i) ctx.setOutput(i, (*outs)[i]);
  return Status::ok();
}

const KernelRegistry& testRegistry() {
  static const KernelRegistry r = [] {
    KernelRegistry k;
    k.add("", "Add", addKernel);
    k.add("", "Mul", mulKernel);
    k.add("", "Neg", negKernel);
    k.add("", "Identity", identityKernel);
    k.add("", "ReduceSum", reduceSumKernel);
    k.add("", "If", ifKernel);
    return k;
  }();
  return r;
}

std::unique_ptr<Executor> makeExecutor(const Model& m, int threads = 1) {
  ExecOptions o;
  o.threads = threads;
  o.registry = &testRegistry();
  auto e = Executor::create(m, o);
  EXPECT_TRUE(e.hasValue()) << e.status().toString();
  return e ? std::move(e).value() : nullptr;
}

Tensor floats(std::vector<int64_t> dims, const std::vector<float>& v) {
  return Tensor::fromValues<float>(DType::F32, std::move(dims), v);
}

std::vector<float> ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * (static_cast<float>(i % 97) - 48.0f);
  return v;
}

// a is freed after b; c (same size) then reuses a's buffer while b is still alive and read.
const char* kReuseModel = R"(
<ir_version: 8, opset_import: ["" : 17]>
g (float[N] x) => (float[N] y) {
  a = Mul(x, x)
  b = Add(a, x)
  c = Neg(b)
  d = Mul(c, x)
  y = Add(d, b)
}
)";

TEST(ExecutorTest, BufferReuseKeepsResultsCorrect) {
  Model m = test::parseModel(kReuseModel);
  for (int threads : {1, 2}) {
    auto e = makeExecutor(m, threads);
    ASSERT_TRUE(e);
    const size_t n = 10000;
    std::vector<float> xv = ramp(n, 0.25f);
    for (int rep = 0; rep < 3; ++rep) {
      auto out = e->run({{"x", floats({int64_t(n)}, xv)}});
      ASSERT_TRUE(out.hasValue()) << out.status().toString();
      const Tensor& y = out->at("y");
      ASSERT_EQ(y.dims(), std::vector<int64_t>{int64_t(n)});
      for (size_t i = 0; i < n; ++i) {
        double x = xv[i], b = x * x + x, want = -b * x + b;
        ASSERT_NEAR(y.data<float>()[i], want, 1e-4 * std::max(1.0, std::fabs(want))) << "element " << i;
      }
    }
    MemoryStats s = e->memoryStats();
    EXPECT_EQ(s.allocations, 15u);  // 5 per run
    // First run: c takes a's buffer and y takes c's, so three blocks come from the heap; the
    // later runs (the caller dropped the outputs in between) reuse all of them.
    EXPECT_EQ(s.heapAllocations, 3u);
    EXPECT_EQ(s.reused, 12u);
    EXPECT_EQ(s.peakLiveBytes, 3 * BufferPool::capacityFor(n * 4));
  }
}

TEST(ExecutorTest, AliasedBufferIsNotReusedWhileAlive) {
  Model m = test::parseModel(R"(
<ir_version: 8, opset_import: ["" : 17]>
g (float[4] x) => (float[4] y) {
  a = Mul(x, x)
  i = Identity(a)
  c = Neg(x)
  y = Add(i, c)
}
)");
  auto e = makeExecutor(m);
  ASSERT_TRUE(e);
  std::vector<float> xv = {1, -2, 3, 0.5f};
  auto out = e->run({{"x", floats({4}, xv)}});
  ASSERT_TRUE(out.hasValue()) << out.status().toString();
  for (size_t k = 0; k < 4; ++k) EXPECT_FLOAT_EQ(out->at("y").data<float>()[k], xv[k] * xv[k] - xv[k]);
}

TEST(ExecutorTest, ChainRunsInBoundedMemory) {
  // Eleven 1 MiB results in a chain: two live at once (a node's input and output), and later
  // runs allocate nothing new.
  std::string text = "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float[262144] x) => (float[262144] y) {\n  t0 = Neg(x)\n";
  for (int i = 1; i < 10; ++i) text += fmt::format("  t{} = Neg(t{})\n", i, i - 1);
  text += "  y = Neg(t9)\n}\n";
  Model m = test::parseModel(text);
  auto e = makeExecutor(m);
  ASSERT_TRUE(e);
  std::vector<float> xv = ramp(262144, 1.0f);
  Tensor x = floats({262144}, xv);
  for (int rep = 0; rep < 3; ++rep) {
    auto out = e->run({{"x", x}});
    ASSERT_TRUE(out.hasValue());
    for (size_t i = 0; i < xv.size(); i += 1001) ASSERT_EQ(out->at("y").data<float>()[i], -xv[i]);  // 11 negations
  }
  MemoryStats s = e->memoryStats();
  EXPECT_EQ(s.allocations, 33u);
  EXPECT_EQ(s.peakLiveBytes, 2u * 262144 * 4);
  EXPECT_EQ(s.heapAllocations, 2u);
}

TEST(ExecutorTest, ObserverSeesEveryProducedTensor) {
  Model m = test::parseModel(R"(
<ir_version: 8, opset_import: ["" : 17]>
g (float[3] x) => (float[3] y) {
  a = Mul(x, x)
  unused = Neg(a)
  y = Add(a, x)
}
)");
  auto e = makeExecutor(m);
  ASSERT_TRUE(e);
  std::map<std::string, std::vector<float>> seen;
  e->setObserver([&](const Node& n, size_t r, const Tensor& t) {
    auto s = t.span<float>();
    seen[n.result(r)->name()] = std::vector<float>(s.begin(), s.end());
  });
  std::vector<float> xv = {1, 2, -3};
  auto out = e->run({{"x", floats({3}, xv)}});
  ASSERT_TRUE(out.hasValue()) << out.status().toString();
  ASSERT_EQ(seen.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(seen["a"][i], xv[i] * xv[i]);
    EXPECT_EQ(seen["unused"][i], -xv[i] * xv[i]);
    EXPECT_EQ(seen["y"][i], xv[i] * xv[i] + xv[i]);
  }
  // Unset again: runs without it.
  e->setObserver(nullptr);
  seen.clear();
  ASSERT_TRUE(e->run({{"x", floats({3}, xv)}}).hasValue());
  EXPECT_TRUE(seen.empty());
}

TEST(ExecutorTest, InputErrorsNameTheInput) {
  Model m = test::parseModel(R"(
<ir_version: 8, opset_import: ["" : 17]>
g (float[N, 3] image, float[N, 3] bias) => (float[N, 3] y) {
  y = Add(image, bias)
}
)");
  auto e = makeExecutor(m);
  ASSERT_TRUE(e);
  Tensor good = floats({2, 3}, std::vector<float>(6, 1.0f));
  // Wrong dtype.
  std::vector<int64_t> iv(6, 1);
  auto r = e->run({{"image", Tensor::fromValues<int64_t>(DType::I64, {2, 3}, iv)}, {"bias", good}});
  ASSERT_FALSE(r.hasValue());
  EXPECT_EQ(r.status().code(), StatusCode::InvalidArgument);
  EXPECT_NE(r.status().message().find("\"image\""), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("i64[2,3]"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("f32[N,3]"), std::string::npos) << r.status().message();
  // Wrong static dim.
  r = e->run({{"image", floats({2, 4}, std::vector<float>(8, 1.0f))}, {"bias", good}});
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.status().message().find("\"image\""), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("f32[2,4]"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("dim 1 is 4, expected 3"), std::string::npos) << r.status().message();
  // Wrong rank.
  r = e->run({{"image", floats({6}, std::vector<float>(6, 1.0f))}, {"bias", good}});
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.status().message().find("rank 1, expected 2"), std::string::npos) << r.status().message();
  // Missing input.
  r = e->run({{"image", good}});
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.status().message().find("missing input \"bias\""), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("f32[N,3]"), std::string::npos) << r.status().message();
  // Unknown input.
  r = e->run({{"image", good}, {"bias", good}, {"imgae", good}});
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.status().message().find("\"imgae\" is not an input"), std::string::npos) << r.status().message();
  // Symbolic dim sized differently by two inputs.
  r = e->run({{"image", good}, {"bias", floats({3, 3}, std::vector<float>(9, 1.0f))}});
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.status().message().find("dim \"N\" is 3 here and 2 in input \"image\""), std::string::npos)
      << r.status().message();
  // runOrdered with an absent required input.
  auto ro = e->runOrdered({good, Tensor()});
  ASSERT_FALSE(ro.hasValue());
  EXPECT_NE(ro.status().message().find("\"bias\""), std::string::npos) << ro.status().message();
}

TEST(ExecutorTest, SymbolicDimsTakeTheirSizeFromInputs) {
  Model m = test::parseModel(R"(
<ir_version: 8, opset_import: ["" : 17]>
g (float[batch, C] x, float[batch, C] z) => (float[batch, C] y) {
  y = Add(x, z)
}
)");
  auto e = makeExecutor(m);
  ASSERT_TRUE(e);
  for (int64_t batch : {1, 5}) {
    std::vector<float> v(static_cast<size_t>(batch * 2), 1.5f);
    auto out = e->run({{"x", floats({batch, 2}, v)}, {"z", floats({batch, 2}, v)}});
    ASSERT_TRUE(out.hasValue()) << out.status().toString();
    EXPECT_EQ(out->at("y").dims(), (std::vector<int64_t>{batch, 2}));
    EXPECT_EQ(e->symbolSizes().at("batch"), batch);
    EXPECT_EQ(e->symbolSizes().at("C"), 2);
    EXPECT_EQ(out->at("y").data<float>()[0], 3.0f);
  }
}

TEST(ExecutorTest, SubgraphsReadOuterScopeValues) {
  // The inner If reads x (two scopes up) and a (one scope up); a and x are released in the main
  // graph only after the If node.
  Model m = test::parseModel(R"(
<ir_version: 8, opset_import: ["" : 17]>
g (bool c1, bool c2, float[2] x) => (float[2] y) {
  a = Mul(x, x)
  r = If(c1) <then_branch = t1 () => (float[2] o1) {
      o1 = If(c2) <then_branch = t2 () => (float[2] o2) { o2 = Add(a, x) },
                   else_branch = e2 () => (float[2] o3) { o3 = Neg(x) }>
    }, else_branch = e1 () => (float[2] o4) { o4 = Mul(a, a) }>
  y = Neg(r)
}
)");
  auto e = makeExecutor(m, 2);
  ASSERT_TRUE(e);
  std::vector<float> xv = {3, -0.5f};
  int observed = 0;
  e->setObserver([&](const Node&, size_t, const Tensor&) { ++observed; });
  auto runWith = [&](bool c1, bool c2) {
    uint8_t b1 = c1, b2 = c2;
    auto out = e->run({{"c1", Tensor::fromValues<uint8_t>(DType::Bool, {}, std::span<const uint8_t>(&b1, 1))},
                       {"c2", Tensor::fromValues<uint8_t>(DType::Bool, {}, std::span<const uint8_t>(&b2, 1))},
                       {"x", floats({2}, xv)}});
    EXPECT_TRUE(out.hasValue()) << out.status().toString();
    return out ? std::vector<float>(out->at("y").span<float>().begin(), out->at("y").span<float>().end())
               : std::vector<float>{};
  };
  auto y = runWith(true, true);
  ASSERT_EQ(y.size(), 2u);
  for (size_t i = 0; i < 2; ++i) EXPECT_FLOAT_EQ(y[i], -(xv[i] * xv[i] + xv[i]));
  EXPECT_EQ(observed, 5);  // a, o2, o1, r, y
  y = runWith(true, false);
  for (size_t i = 0; i < 2; ++i) EXPECT_FLOAT_EQ(y[i], xv[i]);
  y = runWith(false, true);
  for (size_t i = 0; i < 2; ++i) EXPECT_FLOAT_EQ(y[i], -(xv[i] * xv[i] * xv[i] * xv[i]));
}

TEST(ExecutorTest, UnsupportedOpInSubgraphFailsAtCreate) {
  Model m = test::parseModel(R"(
<ir_version: 8, opset_import: ["" : 17]>
g (bool c, float[2] x) => (float[2] y) {
  y = If(c) <then_branch = t () => (float[2] o1) { o1 = Sqrt(x) },
             else_branch = e () => (float[2] o2) { o2 = Neg(x) }>
}
)");
  ExecOptions o;
  o.registry = &testRegistry();
  auto e = Executor::create(m, o);
  ASSERT_FALSE(e.hasValue());
  EXPECT_EQ(e.status().code(), StatusCode::Unsupported);
  EXPECT_NE(e.status().message().find("Sqrt"), std::string::npos) << e.status().message();
}

TEST(ExecutorTest, DeterministicForAThreadCount) {
  Model m = test::parseModel(R"(
<ir_version: 8, opset_import: ["" : 17]>
g (float[100003] x) => (float y) {
  s = Mul(x, x)
  y = ReduceSum(s)
}
)");
  std::vector<float> xv(100003);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = std::sin(static_cast<float>(i)) * 3.0f;
  double want = 0;
  for (float v : xv) want += double(v) * v;
  for (int threads : {1, 2, 3}) {
    auto e = makeExecutor(m, threads);
    ASSERT_TRUE(e);
    float first = 0;
    for (int rep = 0; rep < 4; ++rep) {
      auto out = e->run({{"x", floats({100003}, xv)}});
      ASSERT_TRUE(out.hasValue());
      float got = out->at("y").data<float>()[0];
      if (rep == 0) first = got;
      uint32_t a, b;
      std::memcpy(&a, &got, 4);
      std::memcpy(&b, &first, 4);
      EXPECT_EQ(a, b) << "threads " << threads << " run " << rep;
      EXPECT_NEAR(got, want, 1e-3 * want);
    }
  }
}

TEST(ExecutorTest, OutputsOutliveTheExecutor) {
  Model m = test::parseModel(kReuseModel);
  Tensor y;
  {
    auto e = makeExecutor(m);
    ASSERT_TRUE(e);
    auto out = e->run({{"x", floats({2}, {1.0f, 2.0f})}});
    ASSERT_TRUE(out.hasValue());
    y = out->at("y");
  }
  EXPECT_FLOAT_EQ(y.data<float>()[0], -2.0f * 1 + 2);
  EXPECT_FLOAT_EQ(y.data<float>()[1], -6.0f * 2 + 6);
}

TEST(ThreadPoolTest, NestedAndConcurrentParallelFor) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  pool.parallelFor(8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      pool.parallelFor(100, 1, [&](int64_t b2, int64_t e2) { total += e2 - b2; });  // runs inline
  });
  EXPECT_EQ(total.load(), 800);
  std::atomic<int64_t> t2{0};
  std::thread other([&] {
    for (int k = 0; k < 50; ++k) pool.parallelFor(1000, 10, [&](int64_t b, int64_t e) { t2 += e - b; });
  });
  for (int k = 0; k < 50; ++k) pool.parallelFor(1000, 10, [&](int64_t b, int64_t e) { t2 += e - b; });
  other.join();
  EXPECT_EQ(t2.load(), 100000);
}

TEST(ThreadPoolTest, ChunksDependOnlyOnSizeAndThreads) {
  ThreadPool pool(2);
  std::mutex mu;
  std::set<std::pair<int64_t, int64_t>> chunks;
  pool.parallelFor(101, 10, [&](int64_t b, int64_t e) {
    std::lock_guard<std::mutex> lock(mu);
    chunks.insert({b, e});
  });
  EXPECT_EQ(chunks, (std::set<std::pair<int64_t, int64_t>>{{0, 51}, {51, 101}}));
}

}  // namespace
}  // namespace npuconv
