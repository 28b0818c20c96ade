// If / Loop / Scan kernels on small graphs whose results are computed independently here
// (closed-form sums, explicit loops).
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "converter/exec/executor.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

Tensor i64(std::vector<int64_t> dims, const std::vector<int64_t>& v) {
  return Tensor::fromValues<int64_t>(DType::I64, std::move(dims), std::span<const int64_t>(v));
}
Tensor boolean(bool b) {
  uint8_t v = b ? 1 : 0;
  return Tensor::fromValues<uint8_t>(DType::Bool, {}, std::span<const uint8_t>(&v, 1));
}
std::vector<float> floats(const Tensor& t) { return std::vector<float>(t.data<float>(), t.data<float>() + t.numElements()); }

Expected<NamedTensors> tryRun(const std::string& text, const NamedTensors& inputs) {
  Model m = test::parseModel(text);
  NPU_ASSIGN_OR_RETURN(auto exec, Executor::create(m, ExecOptions{2}));
  return exec->run(inputs);
}
NamedTensors run(const std::string& text, const NamedTensors& inputs) {
  auto out = tryRun(text, inputs);
  EXPECT_TRUE(out.hasValue()) << out.status().toString();
  return out ? *out : NamedTensors{};
}

const char* kIf = R"(<ir_version: 8, opset_import: ["" : 13]>
  g (bool c, float[3] x, float[3] y) => (float[3] z) {
    z = If(c) <
      then_branch = thenG () => (float[3] t) { t = Add(x, y) },
      else_branch = elseG () => (float[3] e) { e = Sub(x, y) }
    >
  })";

TEST(ControlFlowKernels, IfRunsTheChosenBranchWithOuterValues) {
  std::vector<float> x = {1, 2, 3}, y = {10, 20, 30};
  for (bool c : {true, false}) {
    auto out = run(kIf, {{"c", boolean(c)}, {"x", test::f32Tensor({3}, x)}, {"y", test::f32Tensor({3}, y)}});
    std::vector<float> want;
    for (size_t i = 0; i < 3; ++i) want.push_back(c ? x[i] + y[i] : x[i] - y[i]);
    EXPECT_EQ(floats(out["z"]), want) << "cond " << c;
  }
}

// Loop summing the iteration numbers into a float accumulator, with the running sum as a
// scan output; the condition input turns it into a while loop (stop once acc >= limit).
const char* kLoop = R"(<ir_version: 8, opset_import: ["" : 13]>
  g (int64 M, bool c0, float a0, float limit) => (float acc, float partial) {
    acc, partial = Loop(M, c0, a0) <
      body = b (int64 i, bool cin, float a) => (bool cout, float a2, float s) {
        fi = Cast<to = 1>(i)
        a2 = Add(a, fi)
        cout = Less(a2, limit)
        s = Identity(a2)
      }
    >
  })";

TEST(ControlFlowKernels, LoopForAndWhile) {
  // For loop: limit never reached, M = 5 iterations: partial sums of 0..4 plus a0.
  auto out = run(kLoop, {{"M", i64({}, {5})}, {"c0", boolean(true)}, {"a0", test::f32Tensor({}, {0.5f})}, {"limit", test::f32Tensor({}, {1e9f})}});
  std::vector<float> want;
  float acc = 0.5f;
  for (int i = 0; i < 5; ++i) want.push_back(acc += float(i));
  EXPECT_EQ(floats(out["acc"]), std::vector<float>{acc});
  EXPECT_EQ(floats(out["partial"]), want);
  EXPECT_EQ(out["partial"].dims(), (std::vector<int64_t>{5}));

  // While loop: M is huge, the body stops once the sum reaches 10 (0+1+2+3+4 = 10 after 5 steps).
  out = run(kLoop, {{"M", i64({}, {1000})}, {"c0", boolean(true)}, {"a0", test::f32Tensor({}, {0.f})}, {"limit", test::f32Tensor({}, {10.f})}});
  EXPECT_EQ(floats(out["acc"]), std::vector<float>{10.f});
  EXPECT_EQ(out["partial"].numElements(), 5);

  // A false initial condition runs nothing: the carried value is the initial one and the scan
  // output is empty.
  out = run(kLoop, {{"M", i64({}, {3})}, {"c0", boolean(false)}, {"a0", test::f32Tensor({}, {4.f})}, {"limit", test::f32Tensor({}, {1e9f})}});
  EXPECT_EQ(floats(out["acc"]), std::vector<float>{4.f});
  EXPECT_EQ(out["partial"].numElements(), 0);
}

// Scan (opset 9+): cumulative sum over axis 1 of x[2,4] read in reverse, scan output stacked on
// axis 1 in reverse as well.
const char* kScan = R"(<ir_version: 8, opset_import: ["" : 13]>
  g (float[2] s0, float[2,4] x) => (float[2] s, float[2,4] ys) {
    s, ys = Scan(s0, x) <
      num_scan_inputs = 1, scan_input_axes = [1], scan_input_directions = [1],
      scan_output_axes = [1], scan_output_directions = [1],
      body = b (float[2] st, float[2] xi) => (float[2] st2, float[2] y) {
        st2 = Add(st, xi)
        y = Identity(st2)
      }
    >
  })";

TEST(ControlFlowKernels, ScanReverseAxes) {
  std::vector<float> x = {1, 2, 3, 4, 10, 20, 30, 40};
  auto out = run(kScan, {{"s0", test::f32Tensor({2}, {100, 200})}, {"x", test::f32Tensor({2, 4}, x)}});
  // Step t reads column 3 - t; output step t goes to column 3 - t: ys[r][c] = s0[r] + sum_{c' >= c} x[r][c'].
  std::vector<float> want(8);
  for (int r = 0; r < 2; ++r) {
    float acc = r == 0 ? 100.f : 200.f;
    for (int c = 3; c >= 0; --c) want[size_t(r * 4 + c)] = acc += x[size_t(r * 4 + c)];
  }
  EXPECT_EQ(floats(out["ys"]), want);
  EXPECT_EQ(floats(out["s"]), (std::vector<float>{want[0], want[4]}));
}

TEST(ControlFlowKernels, LoopBodyErrorsPropagate) {
  // The body adds tensors of different shapes: the error reaches the caller as a Status.
  auto out = tryRun(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (int64 M, float[2] a0, float[3] z) => (float acc) {
      acc = Loop(M, , a0) <
        body = b (int64 i, bool cin, float a) => (bool cout, float a2) {
          a2 = Add(a, z)
          cout = Identity(cin)
        }
      >
    })",
                    {{"M", i64({}, {2})}, {"a0", test::f32Tensor({2}, {0, 0})}, {"z", test::f32Tensor({3}, {1, 2, 3})}});
  EXPECT_FALSE(out.hasValue());
}

}  // namespace
}  // namespace npuconv
