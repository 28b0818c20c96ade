// layout_test_util.h - helpers of the layout tests (header-only): run passes, count NHWC ops,
// and check that two models compute bit-identical outputs on the executor.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "converter/exec/executor.h"
#include "converter/ir/printer.h"
#include "converter/ir/verifier.h"
#include "passes/layout/nhwc.h"
#include "passes/registry.h"
#include "tests/passes/pass_test_util.h"

namespace npuconv::test {

struct LayoutRun {
  Model model;
  std::vector<PassRecord> records;
};

/// Runs the comma-separated passes (or "pipeline=NAME,extra,passes") with the verifier after each.
inline LayoutRun runPassesOn(Model model, const std::string& passes, const std::map<std::string, std::string>& options) {
  LayoutRun r;
  // Runs a pipeline or a pass list on `model` (verifying after each pass), keeping its records.
  auto runManager = [&](const std::string& pipeline, const std::string& list) {
    auto pm = buildPassManager(pipeline, list, {});
    EXPECT_TRUE(pm.hasValue()) << pm.status().toString();
    if (!pm) return;
    pm->setVerifyEach(true);
    PassContext ctx;
    ctx.options = options;
    Status s = pm->run(model, ctx);
    EXPECT_TRUE(s.isOk()) << s.toString();
    for (const PassRecord& rec : pm->records()) r.records.push_back(rec);
  };
  std::string list = passes;
  if (list.rfind("pipeline=", 0) == 0) {
    size_t comma = list.find(',');
    runManager(list.substr(9, comma == std::string::npos ? std::string::npos : comma - 9), "");
    list = comma == std::string::npos ? "" : list.substr(comma + 1);
  }
  if (!list.empty()) runManager("", list);
  Status v = verifyModel(model);
  EXPECT_TRUE(v.isOk()) << v.toString();
  r.model = std::move(model);
  return r;
}

inline LayoutRun runLayout(const std::string& text, const std::map<std::string, Range>& consts,
                           const std::string& passes, const std::map<std::string, std::string>& options) {
  return runPassesOn(buildModel(text, consts), passes, options);
}

/// Nodes of the ai.npuconv.nhwc domain in the main graph.
inline int64_t countNhwcOps(const Model& m) {
  int64_t c = 0;
  for (const Node* n : m.graph->nodes()) c += nhwc::isNhwcNode(*n);
  return c;
}

/// A rank-4 tensor permuted (out dims[i] = in dims[perm[i]]), by plain index arithmetic.
inline Tensor permute4(const Tensor& t, const std::vector<int64_t>& perm) {
  const std::vector<int64_t>& d = t.dims();
  std::vector<int64_t> od = {d[size_t(perm[0])], d[size_t(perm[1])], d[size_t(perm[2])], d[size_t(perm[3])]};
  Tensor out(t.dtype(), od);
  const size_t es = dtypeSize(t.dtype());
  std::vector<int64_t> st = {d[1] * d[2] * d[3], d[2] * d[3], d[3], 1};
  const auto* src = static_cast<const std::byte*>(t.raw());
  auto* dst = static_cast<std::byte*>(out.mutableRaw());
  int64_t k = 0;
  for (int64_t a = 0; a < od[0]; ++a)
    for (int64_t b = 0; b < od[1]; ++b)
      for (int64_t c = 0; c < od[2]; ++c)
        for (int64_t e = 0; e < od[3]; ++e, ++k) {
          int64_t off = a * st[size_t(perm[0])] + b * st[size_t(perm[1])] + c * st[size_t(perm[2])] + e * st[size_t(perm[3])];
          std::memcpy(dst + size_t(k) * es, src + size_t(off) * es, es);
        }
  return out;
}

/// Runs both models on the same seeded inputs (`in` when given, else U(-1, 1)) and expects
/// every output element to be exactly equal (max |diff| == 0). With `ioNhwc`, rank-4 inputs
/// are fed to `after` as NHWC and its rank-4 outputs read back as NHWC.
inline void expectIdentical(const Model& before, const Model& after, bool ioNhwc, NamedTensors in = {}, int threads = 1) {
  if (in.empty()) {
    std::mt19937_64 rng(4242);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (const Value* v : before.graph->inputs()) {
      if (v->isInitializer()) continue;
      ASSERT_TRUE(v->type().hasStaticShape()) << v->name();
      Tensor t(v->dtype(), staticDims(*v->type().shape));
      for (int64_t i = 0; i < t.numElements(); ++i) t.mutableData<float>()[i] = dist(rng);
      in[v->name()] = t;
    }
  }
  NamedTensors inAfter;
  for (const auto& [name, t] : in) inAfter[name] = ioNhwc && t.rank() == 4 ? permute4(t, nhwc::kToNhwc) : t;
  auto e0 = Executor::create(before, ExecOptions{threads, nullptr});
  auto e1 = Executor::create(after, ExecOptions{threads, nullptr});
  ASSERT_TRUE(e0.hasValue()) << e0.status().toString();
  ASSERT_TRUE(e1.hasValue()) << e1.status().toString();
  auto r0 = (*e0)->run(in);
  auto r1 = (*e1)->run(inAfter);
  ASSERT_TRUE(r0.hasValue()) << r0.status().toString();
  ASSERT_TRUE(r1.hasValue()) << r1.status().toString() << "\n" << toText(after);
  ASSERT_EQ(r0->size(), r1->size());
  for (const auto& [name, t0] : *r0) {
    ASSERT_TRUE(r1->count(name)) << "output " << name << " missing";
    Tensor t1 = r1->at(name);
    if (ioNhwc && t1.rank() == 4) t1 = permute4(t1, nhwc::kToNchw);
    ASSERT_EQ(t0.dims(), t1.dims()) << name;
    std::vector<double> a = t0.toDoubles(), b = t1.toDoubles();
    double worst = 0;
    size_t mismatches = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))) continue;
      ++mismatches;
      worst = std::max(worst, std::abs(a[i] - b[i]));
    }
    EXPECT_EQ(mismatches, 0u) << "output " << name << ": " << mismatches << " of " << a.size()
                              << " elements differ, max |diff| " << worst;
  }
}

}  // namespace npuconv::test
