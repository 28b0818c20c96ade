// Use-lists, mutation primitives and the verifier.
#include <gtest/gtest.h>

#include "converter/ir/graph.h"
#include "converter/ir/printer.h"
#include "converter/ir/verifier.h"

namespace npuconv {
namespace {

TensorType f32(std::vector<int64_t> dims) { return {DType::F32, shapeOf(dims), {}, {}}; }

TEST(Graph, UseListsFollowEveryMutation) {
  Graph g("g");
  Value* x = g.addInput("x", f32({2}));
  float w[2] = {1, 2};
  Value* c = g.addInitializer("c", std::make_shared<TensorData>(TensorData::fromValues<float>(DType::F32, {2}, w)));
  Node* add = g.createNode("Add", {x, c}, 1);
  Node* relu = g.createNode("Relu", {add->result()}, 1);
  g.addOutput(relu->result());
  ASSERT_TRUE(verifyGraph(g).isOk());
  EXPECT_EQ(x->uses().size(), 1u);
  EXPECT_EQ(add->result()->uses().size(), 1u);
  EXPECT_EQ(add->result()->uses()[0].user, relu);

  // Bypass the Add: Relu(x).
  relu->setOperand(0, x);
  EXPECT_TRUE(add->result()->uses().empty());
  EXPECT_EQ(x->uses().size(), 2u);
  g.eraseNode(add);
  EXPECT_EQ(x->uses().size(), 1u);
  EXPECT_TRUE(c->uses().empty());
  g.eraseInitializer(c);
  EXPECT_TRUE(verifyGraph(g).isOk());
  EXPECT_EQ(g.numNodes(), 1u);
}

TEST(Graph, ReplaceAllUsesRedirectsOutputs) {
  Graph g("g");
  Value* x = g.addInput("x", f32({2}));
  Node* id = g.createNode("Identity", {x}, 1);
  Node* neg = g.createNode("Neg", {id->result()}, 1);
  g.addOutput(id->result());
  g.addOutput(neg->result());
  g.replaceAllUsesWith(id->result(), x);
  EXPECT_EQ(g.outputs()[0], x);
  EXPECT_EQ(neg->operand(0), x);
  g.eraseNode(id);
  EXPECT_TRUE(verifyGraph(g).isOk());
}

TEST(Graph, TopologicalSortKeepsOrderAndFindsCycles) {
  Graph g("g");
  Value* x = g.addInput("x", f32({2}));
  Node* a = g.createNode("Relu", {x}, 1, nullptr, "a");
  Node* b = g.createNode("Neg", {x}, 1, a, "b");  // inserted before a, independent
  Node* c = g.createNode("Add", {a->result(), b->result()}, 1, b, "c");  // before its inputs
  g.addOutput(c->result());
  EXPECT_FALSE(verifyGraph(g).isOk());
  ASSERT_TRUE(g.topologicalSort());
  std::vector<std::string> order;
  for (Node* n : g.nodes()) order.push_back(n->name());
  EXPECT_EQ(order, (std::vector<std::string>{"b", "a", "c"}));
  EXPECT_TRUE(verifyGraph(g).isOk());

  a->setOperand(0, c->result());  // a <- c <- a
  std::string where;
  EXPECT_FALSE(g.topologicalSort(&where));
  EXPECT_FALSE(where.empty());
}

TEST(Graph, VerifierRejectsUseOfValueFromUnrelatedGraph) {
  Graph other("other");
  Value* foreign = other.addInput("f", f32({1}));
  Graph g("g");
  Node* n = g.createNode("Relu", {foreign}, 1);
  g.addOutput(n->result());
  Status s = verifyGraph(g);
  EXPECT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("not defined"), std::string::npos) << s.message();
  n->setOperand(0, nullptr);  // detach before `other` goes away
}

// A subgraph output is no use of an outer value, which would then look unused outside (the
// importer wraps such outputs in an Identity instead).
TEST(Graph, VerifierRejectsSubgraphOutputOfAnOuterValue) {
  Graph g("g");
  Value* x = g.addInput("x", f32({1}));
  Node* n = g.createNode("Loop", {}, 0);
  auto body = std::make_shared<Graph>("body");
  body->setParentNode(n);
  body->addOutput(x);
  n->mutableAttrs().set(Attribute{"body", GraphPtr(body), {}, {}});
  Status s = verifyGraph(g);
  EXPECT_EQ(s.code(), StatusCode::Internal) << s.toString();
  EXPECT_NE(s.message().find("enclosing graph"), std::string::npos) << s.message();
}

TEST(Graph, FreshNamesAvoidCollisions) {
  Graph g("g");
  g.addInput("t", f32({1}));
  EXPECT_EQ(g.uniqueName("t"), "t_1");
  EXPECT_EQ(g.uniqueName("u"), "u");
  Node* n1 = g.createNode("Relu", {g.inputs()[0]}, 1);
  Node* n2 = g.createNode("Relu", {g.inputs()[0]}, 1);
  EXPECT_NE(n1->name(), n2->name());
  EXPECT_NE(n1->result()->name(), n2->result()->name());
}

TEST(DType, HalfConversionRoundTripsAndRounds) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.333333f})
    EXPECT_EQ(halfToFloat(floatToHalf(f)), halfToFloat(floatToHalf(halfToFloat(floatToHalf(f)))));
  EXPECT_EQ(floatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(floatToHalf(65520.0f), 0x7c00);           // overflows to +inf
  EXPECT_EQ(floatToHalf(5.9604645e-08f), 0x0001);     // smallest subnormal
  EXPECT_EQ(floatToHalf(2.9802322e-08f), 0x0000);     // exactly half of it: ties to even
  EXPECT_EQ(halfToFloat(0x0001), 5.9604645e-08f);
  EXPECT_EQ(floatToHalf(1.0009765625f + 0.00048828125f), 0x3c02);  // tie rounds to even
  EXPECT_EQ(floatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16ToFloat(0x3f80), 1.0f);
}

}  // namespace
}  // namespace npuconv
