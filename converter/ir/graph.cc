#include "converter/ir/graph.h"

#include <algorithm>
#include <unordered_set>

#include "converter/support/status.h"

namespace npuconv {
namespace {

void removeUse(Value* v, Node* user, uint32_t operand) {
  if (!v) return;
  auto& uses = const_cast<std::vector<Use>&>(v->uses());
  auto it = std::find(uses.begin(), uses.end(), Use{user, operand});
  NPU_CHECK(it != uses.end(), "use-list of {} lacks operand {} of {}", v->name(), operand,
            user->describe());
  uses.erase(it);
}

void forEachNestedNode(const Node* n, auto&& fn) {
  for (Graph* g : n->subgraphs())
    for (Node* inner : g->nodes()) {
      fn(inner);
      forEachNestedNode(inner, fn);
    }
}

}  // namespace

// --- Value ----------------------------------------------------------------------------------

bool Value::isGraphOutput() const {
  if (!graph_) return false;
  const auto& outs = graph_->outputs();
  return std::find(outs.begin(), outs.end(), this) != outs.end();
}

// --- Node -----------------------------------------------------------------------------------

Node::~Node() {
  for (uint32_t i = 0; i < operands_.size(); ++i) removeUse(operands_[i], this, i);
}

void Node::setOperand(size_t i, Value* v) {
  NPU_CHECK(i < operands_.size(), "operand {} out of range for {}", i, describe());
  removeUse(operands_[i], this, static_cast<uint32_t>(i));
  operands_[i] = v;
  if (v) v->uses_.push_back({this, static_cast<uint32_t>(i)});
  if (graph_) graph_->touch();
}

void Node::addOperand(Value* v) {
  operands_.push_back(v);
  if (v) v->uses_.push_back({this, static_cast<uint32_t>(operands_.size() - 1)});
  if (graph_) graph_->touch();
}

void Node::truncateOperands(size_t count) {
  while (operands_.size() > count) {
    removeUse(operands_.back(), this, static_cast<uint32_t>(operands_.size() - 1));
    operands_.pop_back();
  }
  if (graph_) graph_->touch();
}

std::vector<Graph*> Node::subgraphs() const {
  std::vector<Graph*> out;
  for (const Attribute& a : attrs_.all()) {
    if (const GraphPtr* g = std::get_if<GraphPtr>(&a.value)) {
      if (*g) out.push_back(g->get());
    } else if (const auto* gs = std::get_if<std::vector<GraphPtr>>(&a.value)) {
      for (const GraphPtr& x : *gs)
        if (x) out.push_back(x.get());
    }
  }
  return out;
}

void Node::addProvenance(const Node& from) {
  for (const std::string& p : from.provenance_)
    if (std::find(provenance_.begin(), provenance_.end(), p) == provenance_.end())
      provenance_.push_back(p);
}

std::string Node::describe() const {
  std::string s = "node \"" + name_ + "\" (" + (domain_.empty() ? "" : domain_ + ".") + opType_ + ")";
  if (!provenance_.empty() && !(provenance_.size() == 1 && provenance_[0] == name_)) {
    s += " from onnx \"";
    for (size_t i = 0; i < provenance_.size(); ++i) s += (i ? "\", \"" : "") + provenance_[i];
    s += "\"";
  }
  return s;
}

// --- Graph ----------------------------------------------------------------------------------

Graph::~Graph() {
  // Nodes drop their uses (of our values and of enclosing graphs' values) before any value
  // goes away; nested subgraphs are destroyed with their nodes' attributes.
  while (!nodes_.empty()) nodes_.pop_back();
}

Value* Graph::newValue(std::string name) {
  auto v = std::unique_ptr<Value>(new Value());
  Value* raw = v.get();
  raw->name_ = std::move(name);
  raw->graph_ = this;
  values_.push_back(std::move(v));
  raw->self_ = std::prev(values_.end());
  if (!raw->name_.empty()) byName_[raw->name_] = raw;
  ++epoch_;
  return raw;
}

void Graph::eraseValue(Value* v) {
  NPU_CHECK(v->uses_.empty(), "erasing value {} that still has {} uses", v->name(), v->uses_.size());
  auto it = byName_.find(v->name_);
  if (it != byName_.end() && it->second == v) byName_.erase(it);
  values_.erase(v->self_);
  ++epoch_;
}

Value* Graph::addInput(std::string name, TensorType type) {
  Value* v = newValue(std::move(name));
  v->type_ = std::move(type);
  v->isGraphInput_ = true;
  inputs_.push_back(v);
  return v;
}

Value* Graph::addInitializer(std::string name, TensorRef data) {
  NPU_CHECK(data != nullptr, "initializer {} without data", name);
  Value* v = newValue(std::move(name));
  v->type_.dtype = data->dtype();
  v->type_.shape = shapeOf(data->dims());
  v->initializer_ = std::move(data);
  initializers_.push_back(v);
  return v;
}

void Graph::setInputDefault(Value* input, TensorRef data) {
  NPU_CHECK(input->isGraphInput_ && input->graph_ == this, "{} is not an input of this graph",
            input->name());
  if (!input->initializer_) initializers_.push_back(input);
  input->initializer_ = std::move(data);
  ++epoch_;
}

void Graph::setInitializerData(Value* v, TensorRef data) {
  NPU_CHECK(v->initializer_ && data, "{} is not an initializer", v->name());
  v->type_.dtype = data->dtype();
  v->type_.shape = shapeOf(data->dims());
  v->initializer_ = std::move(data);
  ++epoch_;
}

void Graph::eraseInput(Value* v) {
  auto it = std::find(inputs_.begin(), inputs_.end(), v);
  NPU_CHECK(it != inputs_.end(), "{} is not a graph input", v->name());
  inputs_.erase(it);
  v->isGraphInput_ = false;
  if (v->initializer_) {
    initializers_.erase(std::find(initializers_.begin(), initializers_.end(), v));
    v->initializer_.reset();
  }
  eraseValue(v);
}

void Graph::eraseInitializer(Value* v) {
  if (v->isGraphInput_) return eraseInput(v);
  auto it = std::find(initializers_.begin(), initializers_.end(), v);
  NPU_CHECK(it != initializers_.end(), "{} is not an initializer", v->name());
  initializers_.erase(it);
  eraseValue(v);
}

Value* Graph::findValue(std::string_view name) const {
  auto it = byName_.find(std::string(name));
  return it == byName_.end() ? nullptr : it->second;
}

Value* Graph::lookup(std::string_view name) const {
  for (const Graph* g = this; g; g = g->parentGraph())
    if (Value* v = g->findValue(name)) return v;
  return nullptr;
}

std::string Graph::uniqueName(std::string_view base) const {
  std::string b = base.empty() ? std::string("v") : std::string(base);
  if (!lookup(b)) return b;
  for (uint64_t i = 1;; ++i) {
    std::string n = b + "_" + std::to_string(i);
    if (!lookup(n)) return n;
  }
}

void Graph::renameValue(Value* v, std::string name) {
  NPU_CHECK(v->graph_ == this, "renaming a value of another graph");
  auto it = byName_.find(v->name_);
  if (it != byName_.end() && it->second == v) byName_.erase(it);
  v->name_ = std::move(name);
  byName_[v->name_] = v;
  ++epoch_;
}

Node* Graph::createNode(std::string opType, std::vector<Value*> operands, size_t numResults,
                        Node* before, std::string name, std::string domain) {
  std::vector<std::optional<std::string>> names(numResults, std::string());
  if (name.empty()) name = freshNodeName(opType);
  return createNodeWithResults(std::move(opType), std::move(domain), std::move(name),
                               std::move(operands), names, before);
}

Node* Graph::createNodeWithResults(std::string opType, std::string domain, std::string name,
                                   std::vector<Value*> operands,
                                   const std::vector<std::optional<std::string>>& resultNames,
                                   Node* before) {
  auto owned = std::unique_ptr<Node>(new Node());
  Node* n = owned.get();
  n->opType_ = std::move(opType);
  n->domain_ = std::move(domain);
  n->name_ = std::move(name);
  // Provenance starts empty: it holds the user's original ONNX node names only, which the
  // importer sets and passes copy from the nodes a new node replaces (a generated name such as
  // "Conv_3" is in no file the user has).
  if (nodeNames_ && !n->name_.empty()) nodeNames_->insert(n->name_);
  n->graph_ = this;
  for (Value* v : operands) n->addOperand(v);
  for (size_t i = 0; i < resultNames.size(); ++i) {
    if (!resultNames[i]) {
      n->results_.push_back(nullptr);
      continue;
    }
    std::string rn = resultNames[i]->empty()
                         ? uniqueName((n->name_.empty() ? n->opType_ : n->name_) + (resultNames.size() > 1 ? "_out" + std::to_string(i) : "_out"))
                         : *resultNames[i];
    Value* r = newValue(std::move(rn));
    r->producer_ = n;
    r->resultIndex_ = static_cast<uint32_t>(i);
    n->results_.push_back(r);
  }
  auto pos = before ? before->self_ : nodes_.end();
  n->self_ = nodes_.insert(pos, std::move(owned));
  ++epoch_;
  return n;
}

std::string Graph::freshNodeName(std::string_view base) {
  if (!nodeNames_) {
    nodeNames_.emplace();
    for (const auto& n : nodes_) nodeNames_->insert(n->name_);
  }
  std::string b(base);
  for (;;) {
    std::string n = b + "_" + std::to_string(++nodeCounter_);
    if (nodeNames_->insert(n).second) return n;
  }
}

void Graph::eraseNode(Node* n) {
  NPU_CHECK(n->graph_ == this, "erasing a node of another graph");
  for (Value* r : n->results_)
    if (r) NPU_CHECK(!r->hasUses() && !r->isGraphOutput(), "erasing {} whose result {} is still used",
                     n->describe(), r->name());
  std::vector<Value*> results = n->results_;
  for (Value* r : results)
    if (r) r->producer_ = nullptr;
  nodes_.erase(n->self_);  // destroys the node: drops its uses, then its subgraphs
  for (Value* r : results)
    if (r) eraseValue(r);
  ++epoch_;
}

void Graph::moveNode(Node* n, Node* before) {
  NPU_CHECK(n->graph_ == this && (!before || before->graph_ == this), "moving across graphs");
  auto pos = before ? before->self_ : nodes_.end();
  nodes_.splice(pos, nodes_, n->self_);
  ++epoch_;
}

void Graph::replaceAllUsesWith(Value* from, Value* to) {
  NPU_CHECK(from != to, "replacing {} with itself", from->name());
  std::vector<Use> uses = from->uses_;
  for (const Use& u : uses) u.user->setOperand(u.operand, to);
  for (Graph* g = from->graph_; g; g = nullptr)
    for (Value*& o : g->outputs_)
      if (o == from) o = to;
  ++epoch_;
}

std::vector<Node*> Graph::nodeList() const {
  std::vector<Node*> out;
  out.reserve(nodes_.size());
  for (const auto& n : nodes_) out.push_back(n.get());
  return out;
}

std::vector<Value*> Graph::valueList() const {
  std::vector<Value*> out;
  out.reserve(values_.size());
  for (const auto& v : values_) out.push_back(v.get());
  return out;
}

bool Graph::topologicalSort(std::string* cycleNode) {
  // Kahn's algorithm over the current order, so an already sorted graph keeps its order.
  // A node also depends on the producers of values its subgraphs use from this graph.
  std::unordered_map<const Node*, size_t> pending;
  std::unordered_map<const Node*, std::vector<Node*>> users;
  auto depend = [&](Node* n, Value* v) {
    if (v && v->producer_ && v->producer_->graph_ == this && v->producer_ != n) {
      ++pending[n];
      users[v->producer_].push_back(n);
    }
  };
  for (const auto& up : nodes_) {
    Node* n = up.get();
    pending[n];
    for (Value* v : n->operands_) depend(n, v);
    forEachNestedNode(n, [&](Node* inner) {
      for (Value* v : inner->operands_) depend(n, v);
    });
  }
  std::vector<Node*> order;
  order.reserve(nodes_.size());
  std::vector<Node*> ready;
  for (const auto& up : nodes_)
    if (pending[up.get()] == 0) ready.push_back(up.get());
  // Emit in original order among ready nodes: process with a cursor over original positions.
  std::unordered_map<const Node*, size_t> position;
  size_t idx = 0;
  for (const auto& up : nodes_) position[up.get()] = idx++;
  auto cmp = [&](Node* a, Node* b) { return position[a] > position[b]; };
  std::make_heap(ready.begin(), ready.end(), cmp);
  while (!ready.empty()) {
    std::pop_heap(ready.begin(), ready.end(), cmp);
    Node* n = ready.back();
    ready.pop_back();
    order.push_back(n);
    for (Node* u : users[n])
      if (--pending[u] == 0) {
        ready.push_back(u);
        std::push_heap(ready.begin(), ready.end(), cmp);
      }
  }
  if (order.size() != nodes_.size()) {
    if (cycleNode)
      for (const auto& up : nodes_)
        if (pending[up.get()] > 0) {
          *cycleNode = up->name_.empty() ? up->opType_ : up->name_;
          break;
        }
    return false;
  }
  for (Node* n : order) nodes_.splice(nodes_.end(), nodes_, n->self_);
  ++epoch_;
  return true;
}

}  // namespace npuconv
