// graph.h - the IR: a Graph owns its Nodes and Values; Values know their producer and uses.
//
// Ownership: Graph owns Nodes (an ordered, pointer-stable list) and Values (an arena). Other
// code holds raw Node* / Value* and never owns them. Use-lists are private and change only
// through Node::setOperand and Graph's mutators, so they are always exact. Erasing a node whose
// results still have uses is a bug and aborts.
//
// Subgraphs (If/Loop/Scan bodies) are Graphs held by node attributes; a subgraph node may use a
// Value of an enclosing graph, and that use is recorded on the outer Value like any other.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "converter/ir/attr.h"
#include "converter/ir/tensor.h"
#include "converter/ir/type.h"

namespace npuconv {

class Graph;
class Node;

struct Use {
  Node* user;
  uint32_t operand;
  bool operator==(const Use&) const = default;
};

class Value {
 public:
  const std::string& name() const { return name_; }
  const TensorType& type() const { return type_; }
  TensorType& mutableType() { return type_; }
  void setType(TensorType t) { type_ = std::move(t); }
  DType dtype() const { return type_.dtype; }
  const std::optional<Shape>& shape() const { return type_.shape; }

  Node* producer() const { return producer_; }
  uint32_t resultIndex() const { return resultIndex_; }
  Graph* graph() const { return graph_; }
  const std::vector<Use>& uses() const { return uses_; }
  bool hasUses() const { return !uses_.empty(); }

  /// Initializer data when this value is a graph initializer (a constant with no producer).
  const TensorRef& initializer() const { return initializer_; }
  bool isInitializer() const { return initializer_ != nullptr; }
  bool isGraphInput() const { return isGraphInput_; }
  bool isGraphOutput() const;

  const std::string& docString() const { return docString_; }
  void setDocString(std::string s) { docString_ = std::move(s); }
  /// Whether the source model declared this value in value_info (kept for the round trip).
  bool declaredInValueInfo() const { return inValueInfo_; }
  void setDeclaredInValueInfo(bool v) { inValueInfo_ = v; }

 private:
  friend class Graph;
  friend class Node;
  std::string name_;
  TensorType type_;
  Graph* graph_ = nullptr;
  Node* producer_ = nullptr;
  uint32_t resultIndex_ = 0;
  std::vector<Use> uses_;
  TensorRef initializer_;
  bool isGraphInput_ = false;
  bool inValueInfo_ = false;
  std::string docString_;
  std::list<std::unique_ptr<Value>>::iterator self_;
};

class Node {
 public:
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const std::string& opType() const { return opType_; }
  const std::string& domain() const { return domain_; }
  bool is(std::string_view opType) const { return domain_.empty() && opType_ == opType; }
  /// QuantizeLinear or DequantizeLinear (`opType`) of ONNX or of ONNX Runtime's com.microsoft
  /// domain, which has the same semantics and the 16-bit types before opset 21.
  bool isQdq(std::string_view opType) const {
    return opType_ == opType && (domain_.empty() || domain_ == "com.microsoft");
  }
  const std::string& name() const { return name_; }
  void setName(std::string n) { name_ = std::move(n); }
  const std::string& docString() const { return docString_; }
  void setDocString(std::string s) { docString_ = std::move(s); }

  size_t numOperands() const { return operands_.size(); }
  /// Operand i, or nullptr when absent (an optional input left empty, or i past the end).
  Value* operand(size_t i) const { return i < operands_.size() ? operands_[i] : nullptr; }
  const std::vector<Value*>& operands() const { return operands_; }
  void setOperand(size_t i, Value* v);
  void addOperand(Value* v);
  /// Drops trailing operands from index `count` on.
  void truncateOperands(size_t count);

  size_t numResults() const { return results_.size(); }
  /// Result i, or nullptr for an optional output that the model leaves unnamed.
  Value* result(size_t i = 0) const { return i < results_.size() ? results_[i] : nullptr; }
  const std::vector<Value*>& results() const { return results_; }

  const AttrMap& attrs() const { return attrs_; }
  AttrMap& mutableAttrs() { return attrs_; }
  /// Subgraphs held by this node's attributes, in attribute order.
  std::vector<Graph*> subgraphs() const;

  /// Original ONNX node names this node stands for (several after a fusion).
  const std::vector<std::string>& provenance() const { return provenance_; }
  void setProvenance(std::vector<std::string> p) { provenance_ = std::move(p); }
  void addProvenance(const Node& from);
  /// "name (OpType)" plus the origin when it differs: for diagnostics.
  std::string describe() const;

  Graph* graph() const { return graph_; }

 private:
  friend class Graph;
  Node() = default;
  std::string opType_;
  std::string domain_;
  std::string name_;
  std::string docString_;
  std::vector<Value*> operands_;
  std::vector<Value*> results_;
  AttrMap attrs_;
  std::vector<std::string> provenance_;
  Graph* graph_ = nullptr;
  std::list<std::unique_ptr<Node>>::iterator self_;
};

/// ONNX's graph-level quantization_annotation, kept opaque for the round trip only. npuconv
/// represents quantization by explicit QuantizeLinear/DequantizeLinear nodes (docs/quantization.md);
/// no pass reads or writes this.
struct QuantAnnotation {
  std::string tensorName;
  std::vector<std::pair<std::string, std::string>> params;
  bool operator==(const QuantAnnotation&) const = default;
};

class Graph {
 public:
  explicit Graph(std::string name = {}) : name_(std::move(name)) {}
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  const std::string& name() const { return name_; }
  void setName(std::string n) { name_ = std::move(n); }
  const std::string& docString() const { return docString_; }
  void setDocString(std::string s) { docString_ = std::move(s); }

  /// The node whose attribute holds this graph; null for the main graph.
  Node* parentNode() const { return parentNode_; }
  void setParentNode(Node* n) { parentNode_ = n; }
  Graph* parentGraph() const { return parentNode_ ? parentNode_->graph() : nullptr; }

  // --- values -------------------------------------------------------------------------------
  Value* addInput(std::string name, TensorType type);
  /// A constant value with no producer (an ONNX initializer).
  Value* addInitializer(std::string name, TensorRef data);
  void addOutput(Value* v) { outputs_.push_back(v); ++epoch_; }
  void setOutput(size_t i, Value* v) { outputs_.at(i) = v; ++epoch_; }
  void clearOutputs() { outputs_.clear(); ++epoch_; }
  /// Makes an existing graph input overridable-constant: it keeps its place among the inputs.
  void setInputDefault(Value* input, TensorRef data);
  /// Replaces an initializer's data (folding); the value keeps its name and uses.
  void setInitializerData(Value* v, TensorRef data);
  /// Removes an unused input or initializer.
  void eraseInput(Value* v);
  void eraseInitializer(Value* v);

  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  const std::vector<Value*>& initializers() const { return initializers_; }

  /// Looks a value up by name in this graph only.
  Value* findValue(std::string_view name) const;
  /// Looks a value up in this graph, then in the enclosing graphs.
  Value* lookup(std::string_view name) const;
  /// A name not used in this graph or any enclosing one: `base`, else `base_1`, `base_2`...
  std::string uniqueName(std::string_view base) const;
  void renameValue(Value* v, std::string name);
  /// A node name not yet used in this graph, `base_N`, for nodes that passes create.
  std::string freshNodeName(std::string_view base);

  // --- nodes --------------------------------------------------------------------------------
  /// Creates a node before `before` (at the end when null) with a fresh name when `name` is
  /// empty and `numResults` freshly named results.
  Node* createNode(std::string opType, std::vector<Value*> operands, size_t numResults,
                   Node* before = nullptr, std::string name = {}, std::string domain = {});
  /// Creates a node exactly as given (the importer): the name may stay empty; a result name
  /// that is an empty string gets a fresh name, a nullopt one is an absent optional output.
  Node* createNodeWithResults(std::string opType, std::string domain, std::string name,
                              std::vector<Value*> operands,
                              const std::vector<std::optional<std::string>>& resultNames,
                              Node* before = nullptr);
  /// Erases a node; its results must have no uses (aborts otherwise).
  void eraseNode(Node* n);
  /// Moves `n` to just before `before` (to the end when null).
  void moveNode(Node* n, Node* before);
  /// Redirects every use of `from` (graph outputs included) to `to`.
  void replaceAllUsesWith(Value* from, Value* to);

  class NodeRange {
   public:
    using Iter = std::list<std::unique_ptr<Node>>::const_iterator;
    struct iterator {
      Iter it;
      Node* operator*() const { return it->get(); }
      iterator& operator++() { ++it; return *this; }
      bool operator!=(const iterator& o) const { return it != o.it; }
    };
    NodeRange(Iter b, Iter e) : b_(b), e_(e) {}
    iterator begin() const { return {b_}; }
    iterator end() const { return {e_}; }

   private:
    Iter b_, e_;
  };
  /// Nodes in order. Do not erase while iterating this range; use nodeList() for a snapshot.
  NodeRange nodes() const { return {nodes_.begin(), nodes_.end()}; }
  std::vector<Node*> nodeList() const;
  size_t numNodes() const { return nodes_.size(); }
  /// All values owned by this graph, in creation order.
  std::vector<Value*> valueList() const;

  /// Reorders nodes topologically, keeping the given order where it is already valid. Fails
  /// with the name of a node on a cycle.
  bool topologicalSort(std::string* cycleNode = nullptr);

  /// Bumped by every mutation: the pass manager compares it to see whether a pass changed
  /// anything.
  uint64_t epoch() const { return epoch_; }
  void touch() { ++epoch_; }

  std::vector<QuantAnnotation>& quantAnnotations() { return quantAnnotations_; }
  const std::vector<QuantAnnotation>& quantAnnotations() const { return quantAnnotations_; }
  /// Serialized ONNX SparseTensorProto initializers, kept opaque.
  std::vector<std::string>& sparseInitializers() { return sparseInitializers_; }
  const std::vector<std::string>& sparseInitializers() const { return sparseInitializers_; }

 private:
  friend class Node;
  Value* newValue(std::string name);
  void eraseValue(Value* v);

  std::string name_;
  std::string docString_;
  Node* parentNode_ = nullptr;
  std::list<std::unique_ptr<Node>> nodes_;
  std::list<std::unique_ptr<Value>> values_;
  std::unordered_map<std::string, Value*> byName_;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  std::vector<Value*> initializers_;
  std::vector<QuantAnnotation> quantAnnotations_;
  std::vector<std::string> sparseInitializers_;
  uint64_t epoch_ = 0;
  uint64_t nodeCounter_ = 0;
  std::optional<std::unordered_set<std::string>> nodeNames_;  // built on first freshNodeName
};

}  // namespace npuconv
