// pass_test_util.cc - see pass_test_util.h.
#include "tests/passes/pass_test_util.h"

#include <cmath>
#include <random>
#include <set>

#include "converter/exec/executor.h"
#include "converter/ir/printer.h"
#include "converter/ir/verifier.h"
#include "passes/registry.h"
#include "tests/support/test_util.h"

namespace npuconv::test {
namespace {

std::vector<int64_t> concreteDims(const TensorType& t) {
  std::vector<int64_t> dims;
  if (t.shape)
    for (const Dim& d : *t.shape) dims.push_back(d.isStatic() ? d.value() : 2);
  return dims;
}

Tensor randomTensor(DType dtype, const std::vector<int64_t>& dims, Range r, std::mt19937_64& rng) {
  Tensor t(dtype, dims);
  std::uniform_real_distribution<float> dist(r.lo, r.hi);
  if (dtype == DType::F32) {
    float* p = t.mutableData<float>();
    for (int64_t i = 0; i < t.numElements(); ++i) p[i] = dist(rng);
  } else if (dtype == DType::F64) {
    double* p = t.mutableData<double>();
    for (int64_t i = 0; i < t.numElements(); ++i) p[i] = dist(rng);
  }
  return t;  // other dtypes: zeros
}

void collectOps(const Graph& g, std::set<std::pair<std::string, std::string>>& ops) {
  for (const Node* n : g.nodes()) {
    ops.insert({n->domain(), n->opType()});
    for (const Graph* s : n->subgraphs()) collectOps(*s, ops);
  }
}

int64_t countIn(const Graph& g, std::string_view op) {
  int64_t c = 0;
  for (const Node* n : g.nodes()) {
    if (n->is(op)) ++c;
    for (const Graph* s : n->subgraphs()) c += countIn(*s, op);
  }
  return c;
}

}  // namespace

Model buildModel(const std::string& text, const std::map<std::string, Range>& consts, uint64_t seed) {
  Model m = parseModel(text);
  std::mt19937_64 rng(seed);
  Graph& g = *m.graph;
  // The text syntax has no node names: name them as an exporter would, so provenance shows.
  int index = 0;
  for (Node* n : g.nodes()) {
    ++index;
    if (n->name().empty()) {
      n->setName(n->opType() + "_" + std::to_string(index));
      n->setProvenance({n->name()});
    }
  }
  for (const auto& [name, range] : consts) {
    Value* v = g.findValue(name);
    EXPECT_TRUE(v && v->isGraphInput() && v->type().hasStaticShape()) << "no static graph input " << name;
    if (!v || !v->isGraphInput() || !v->type().hasStaticShape()) continue;
    Tensor t = randomTensor(DType::F32, staticDims(*v->type().shape), range, rng);
    Value* c = g.addInitializer(g.uniqueName(name + "_tmp"), t.toData());
    g.replaceAllUsesWith(v, c);
    g.eraseInput(v);
    g.renameValue(c, name);
  }
  return m;
}

int64_t countOps(const Model& m, std::string_view op) { return countIn(*m.graph, op); }

void expectEquivalentAfter(const std::string& passes, const std::string& text, const EquivOptions& opt, Model* after) {
  Model before = buildModel(text, opt.consts);
  Model model = buildModel(text, opt.consts);
  ASSERT_TRUE(verifyModel(model).isOk()) << "test model invalid: " << verifyModel(model).toString();
  std::string beforeText = toText(model);

  bool isPipeline = passes.rfind("pipeline=", 0) == 0;
  auto pm = isPipeline ? buildPassManager(passes.substr(9), "", {}) : buildPassManager("", passes, {});
  ASSERT_TRUE(pm.hasValue()) << pm.status().toString();
  pm->setVerifyEach(true);
  PassContext ctx;
  ctx.options = opt.options;
  Status s = pm->run(model, ctx);
  ASSERT_TRUE(s.isOk()) << s.toString();
  ASSERT_TRUE(verifyModel(model).isOk()) << verifyModel(model).toString();
  bool changed = false;
  for (const PassRecord& r : pm->records()) changed |= r.changed;
  std::string afterText = toText(model);
  EXPECT_EQ(changed, opt.expectChange) << "passes " << passes << " changed=" << changed << "\nbefore:\n"
                                       << beforeText << "after:\n" << afterText;
  if (!opt.expectChange) {
    EXPECT_EQ(beforeText, afterText);
  }
  for (const auto& [op, count] : opt.expectOps)
    EXPECT_EQ(countOps(model, op), count) << "count of " << op << " after " << passes << ":\n" << afterText;

  std::set<std::pair<std::string, std::string>> ops;
  collectOps(*before.graph, ops);
  collectOps(*model.graph, ops);
  std::string missing;
  for (const auto& [domain, op] : ops)
    if (!KernelRegistry::global().supports(domain, op))
      missing += (missing.empty() ? "" : ", ") + (domain.empty() ? op : domain + "." + op);
  if (!missing.empty()) {
    if (after) *after = std::move(model);
    GTEST_SKIP() << "numeric check skipped: no kernel for " << missing;
  }

  auto e0 = Executor::create(before, ExecOptions{1, nullptr});
  auto e1 = Executor::create(model, ExecOptions{1, nullptr});
  ASSERT_TRUE(e0.hasValue()) << e0.status().toString();
  ASSERT_TRUE(e1.hasValue()) << e1.status().toString();
  std::mt19937_64 rng(12345);
  for (int trial = 0; trial < opt.trials; ++trial) {
    NamedTensors in;
    for (const Value* v : before.graph->inputs()) {
      if (v->isInitializer()) continue;
      auto it = opt.inputs.find(v->name());
      // The shapes after the passes: freeze-shapes fixes symbolic dims the original accepts too.
      const Value* frozen = model.graph->findValue(v->name());
      const TensorType& type = frozen && frozen->isGraphInput() ? frozen->type() : v->type();
      in[v->name()] = randomTensor(v->dtype(), concreteDims(type), it == opt.inputs.end() ? Range{} : it->second, rng);
    }
    auto r0 = (*e0)->run(in);
    auto r1 = (*e1)->run(in);
    ASSERT_TRUE(r0.hasValue()) << r0.status().toString();
    ASSERT_TRUE(r1.hasValue()) << r1.status().toString() << "\n" << afterText;
    ASSERT_EQ(r0->size(), r1->size());
    for (const auto& [name, t0] : *r0) {
      auto it = r1->find(name);
      ASSERT_NE(it, r1->end()) << "output " << name << " missing after " << passes;
      const Tensor& t1 = it->second;
      ASSERT_EQ(t0.dtype(), t1.dtype()) << name;
      ASSERT_EQ(t0.dims(), t1.dims()) << name;
      std::vector<double> a = t0.toDoubles(), b = t1.toDoubles();
      double rms = 0;
      for (double x : a) rms += x * x;
      rms = a.empty() ? 0 : std::sqrt(rms / static_cast<double>(a.size()));
      size_t worst = 0;
      double worstRatio = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        double tol = opt.rtol * std::max(std::abs(a[i]), rms);
        double err = std::abs(a[i] - b[i]);
        double ratio = tol > 0 ? err / tol : (err > 0 ? INFINITY : 0);
        if (ratio > worstRatio || std::isnan(b[i]) != std::isnan(a[i])) worst = i, worstRatio = std::isnan(b[i]) != std::isnan(a[i]) ? INFINITY : ratio;
      }
      EXPECT_LE(worstRatio, 1.0) << "output " << name << " trial " << trial << ": element " << worst << " was "
                                 << a[worst] << ", is " << b[worst] << " after " << passes << "\n" << afterText;
    }
  }
  if (after) *after = std::move(model);
}

}  // namespace npuconv::test
