// upgrade_opset.cc - see upgrade_opset.h. Checks every node first, then rewrites, so a refusal
// leaves the model as it was.
//
//   opset 9:  %y = Clip<min=0, max=6>(%x)        -> opset 13: %y = Clip(%x, 0.0, 6.0)
//   opset 9:  %y = Slice<starts, ends, axes>(%x) -> opset 13: %y = Slice(%x, starts, ends, axes)
//   opset 11: %y = Softmax<axis=1>(%x: [N, C])   -> opset 13: unchanged (axis is the last one)
#include "passes/lower/upgrade_opset.h"

#include <set>
#include <string>

#include "passes/match.h"
#include "passes/passes.h"

namespace npuconv {
namespace {

/// The version at which each rewritten op last changed form (its rewrite applies when the model
/// is below it and the target at or above it).
struct Change {
  const char* op;
  int64_t at;
};
constexpr Change kChanges[] = {{"Slice", 10},     {"TopK", 10},       {"Resize", 11},    {"Clip", 11},
                               {"Pad", 11},       {"Dropout", 12},    {"Squeeze", 13},   {"Unsqueeze", 13},
                               {"Split", 13},     {"ReduceSum", 13},  {"Softmax", 13},   {"LogSoftmax", 13},
                               {"Hardmax", 13},   {"Upsample", 10},   {"Scatter", 11}};

int64_t changedAt(const Node& n) {
  if (!n.domain().empty() && n.domain() != "ai.onnx") return 0;
  for (const Change& c : kChanges)
    if (n.opType() == c.op) return c.at;
  return 0;
}

bool needsRewrite(const Node& n, int64_t have, int64_t target) {
  int64_t at = changedAt(n);
  return at > have && at <= target;
}

void collect(Graph* g, std::vector<Graph*>& out) {
  out.push_back(g);
  for (Node* n : g->nodes())
    for (Graph* sub : n->subgraphs()) collect(sub, out);
}

/// Why `n` cannot be rewritten, or empty.
std::string refusal(const Node& n) {
  const std::string& op = n.opType();
  if (op == "Upsample" || op == "Scatter") return "has no rewrite here";
  if (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") {
    std::optional<int64_t> rank = m::rankOf(n.operand(0));
    int64_t axis = n.attrs().getInt("axis", 1);
    if (axis == -1) return {};
    if (!rank) return "needs a known input rank to prove its axis is the last one (give --input-shape)";
    if (axis < 0) axis += *rank;
    if (axis != *rank - 1) return "flattens the axes from its axis on, which opset 13 does not do";
  }
  if (op == "Resize" && n.attrs().getString("mode", "nearest") != "nearest" &&
      n.attrs().getString("mode", "nearest") != "linear")
    return "uses a mode opset 10 did not define";
  return {};
}

Value* ints(Graph& g, const Node& n, std::string_view what, const std::vector<int64_t>& v) {
  return m::addConstant(g, fmt::format("{}_{}", n.name().empty() ? n.opType() : n.name(), what), m::i64Tensor(v));
}
Value* floatScalar(Graph& g, const Node& n, std::string_view what, double v) {
  return m::addConstant(g, fmt::format("{}_{}", n.name().empty() ? n.opType() : n.name(), what), m::f32Tensor({}, {v}));
}

/// Moves the int-list attribute `attr` to operand `index` (absent optional operands in between).
void attrToInput(Graph& g, Node& n, std::string_view attr, size_t index) {
  AttrMap& a = n.mutableAttrs();
  std::optional<std::vector<int64_t>> v = a.get<std::vector<int64_t>>(attr);
  a.erase(attr);
  if (!v) return;
  while (n.numOperands() < index) n.addOperand(nullptr);
  n.addOperand(ints(g, n, attr, *v));
}

void rewrite(Graph& g, Node& n) {
  const std::string& op = n.opType();
  AttrMap& a = n.mutableAttrs();
  if (op == "Clip") {
    std::optional<float> lo = a.get<float>("min"), hi = a.get<float>("max");
    a.erase("min");
    a.erase("max");
    n.truncateOperands(1);
    n.addOperand(lo ? floatScalar(g, n, "min", *lo) : nullptr);
    if (hi) n.addOperand(floatScalar(g, n, "max", *hi));
  } else if (op == "Slice") {
    std::vector<int64_t> starts = a.getInts("starts"), ends = a.getInts("ends");
    std::optional<std::vector<int64_t>> axes = a.get<std::vector<int64_t>>("axes");
    a.erase("starts");
    a.erase("ends");
    a.erase("axes");
    n.addOperand(ints(g, n, "starts", starts));
    n.addOperand(ints(g, n, "ends", ends));
    if (axes) n.addOperand(ints(g, n, "axes", *axes));
  } else if (op == "Pad") {
    std::vector<int64_t> pads = a.getInts("pads");
    float value = a.getFloat("value", 0.0f);
    a.erase("pads");
    a.erase("value");
    n.addOperand(ints(g, n, "pads", pads));
    if (value != 0.0f) n.addOperand(floatScalar(g, n, "value", value));
  } else if (op == "TopK") {
    int64_t k = a.getInt("k", 1);
    a.erase("k");
    n.addOperand(ints(g, n, "k", {k}));
  } else if (op == "Resize") {
    // Opset 10's Resize(X, scales) is opset 11's with asymmetric coordinates and floor rounding.
    Value* scales = n.operand(1);
    n.truncateOperands(1);
    n.addOperand(nullptr);  // roi
    n.addOperand(scales);
    a.set<std::string>("coordinate_transformation_mode", "asymmetric");
    if (a.getString("mode", "nearest") == "nearest") a.set<std::string>("nearest_mode", "floor");
  } else if (op == "Dropout") {
    std::optional<float> ratio = a.get<float>("ratio");
    a.erase("ratio");
    a.erase("is_test");
    if (ratio) n.addOperand(floatScalar(g, n, "ratio", *ratio));
  } else if (op == "Squeeze" || op == "Unsqueeze" || op == "ReduceSum") {
    attrToInput(g, n, "axes", 1);
  } else if (op == "Split") {
    attrToInput(g, n, "split", 1);
  } else if (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") {
    a.set<int64_t>("axis", -1);  // proved the last axis by refusal()
  }
}

}  // namespace

Status upgradeOpset(Model& m, int64_t target) {
  int64_t have = m.opsetVersion("");
  if (have >= target) return Status::ok();
  std::vector<Graph*> graphs;
  collect(m.graph.get(), graphs);
  for (Graph* g : graphs)
    for (const Node* n : g->nodes())
      if (needsRewrite(*n, have, target))
        if (std::string why = refusal(*n); !why.empty())
          return Status::unsupported("raising opset {} to {}: {} {}", have, target, n->describe(), why);
  for (Graph* g : graphs)
    for (Node* n : g->nodeList())
      if (needsRewrite(*n, have, target)) rewrite(*g, *n);
  bool found = false;
  for (OpsetImport& o : m.opsetImports)
    if (o.domain.empty() || o.domain == "ai.onnx") o.version = target, found = true;
  if (!found) m.opsetImports.push_back({"", target});
  m.irVersion = std::max<int64_t>(m.irVersion, 7);
  m.graph->touch();
  return Status::ok();
}

namespace {

class UpgradeOpsetPass final : public Pass {
 public:
  std::string_view name() const override { return "upgrade-opset"; }
  Status run(Model& model, PassContext& ctx) override {
    int64_t target = m::targetOpset(model, ctx);
    // Without --opset N above the model's import there is nothing to raise.
    if (target <= model.opsetVersion("")) return Status::ok();
    ++ctx.stat("upgrade-opset.raised");
    return upgradeOpset(model, target);
  }
};

}  // namespace

std::unique_ptr<Pass> createUpgradeOpsetPass() { return std::make_unique<UpgradeOpsetPass>(); }

}  // namespace npuconv
