// Target profile JSON: every built-in profile loads and round-trips; malformed profiles give
// InvalidArgument naming the file and the key; a missing file is an Io error.
#include <gtest/gtest.h>

#include <fstream>

#include "formats/target/target_json.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

const char* kMinimal = R"({
  "name": "t",
  "description": "test",
  "requires_static_shapes": false,
  "preferred_layout": "nchw",
  "quantization": {"int8_symmetric": true},
  "ops": {"Conv": {"max_kernel": 5}}
})";

/// kMinimal with `from` replaced by `to` (which must occur once).
std::string variant(const std::string& from, const std::string& to) {
  std::string s = kMinimal;
  auto pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

Status parseError(const std::string& text) {
  auto p = parseTargetProfile(text, "t.json");
  EXPECT_FALSE(p.hasValue());
  return p.status();
}

TEST(TargetJson, ParsesMinimalProfile) {
  auto p = parseTargetProfile(kMinimal, "t.json");
  ASSERT_TRUE(p.hasValue()) << p.status().toString();
  EXPECT_EQ(p->name, "t");
  EXPECT_FALSE(p->requiresStaticShapes);
  EXPECT_EQ(p->channelAlignment, 1);
  ASSERT_EQ(p->ops.size(), 1u);
  const OpConstraints* c = p->findOp("", "Conv");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->maxKernel, 5);
  EXPECT_EQ(p->findOp("", "Relu"), nullptr);
  EXPECT_EQ(p->findOp("ai.onnx", "Conv"), c);
}

TEST(TargetJson, WrongTypeNamesFileAndKey) {
  Status s = parseError(variant("\"max_kernel\": 5", "\"max_kernel\": \"5\""));
  EXPECT_EQ(s.code(), StatusCode::InvalidArgument);
  EXPECT_EQ(s.message(), "t.json: ops.Conv.max_kernel: expected an integer");
  EXPECT_EQ(exitCodeFor(s.code()), 2);
  EXPECT_EQ(parseError(variant("\"requires_static_shapes\": false", "\"requires_static_shapes\": 0")).message(),
            "t.json: requires_static_shapes: expected true or false");
  EXPECT_EQ(parseError(variant("\"int8_symmetric\": true", "\"int8_symmetric\": \"yes\"")).message(),
            "t.json: quantization.int8_symmetric: expected true or false");
}

TEST(TargetJson, UnknownKeysAreErrors) {
  EXPECT_EQ(parseError(variant("\"max_kernel\": 5", "\"max_kernal\": 5")).message(),
            "t.json: ops.Conv.max_kernal: unknown key");
  EXPECT_EQ(parseError(variant("\"name\": \"t\",", "\"name\": \"t\", \"colour\": \"red\",")).message(),
            "t.json: colour: unknown key");
  EXPECT_EQ(parseError(variant("\"int8_symmetric\": true", "\"int8_symetric\": true, \"fp16\": true")).message(),
            "t.json: quantization.int8_symetric: unknown key");
}

TEST(TargetJson, BadValuesAndMissingKeys) {
  EXPECT_EQ(parseError(variant("\"max_kernel\": 5", "\"max_kernel\": 0")).message(),
            "t.json: ops.Conv.max_kernel: expected an integer >= 1, got 0");
  EXPECT_EQ(parseError(variant("\"max_kernel\": 5", "\"groups\": \"some\"")).message(),
            "t.json: ops.Conv.groups: expected \"none\", \"depthwise\" or \"any\", got \"some\"");
  EXPECT_EQ(parseError(variant("\"max_kernel\": 5", "\"dtypes\": [\"int8\", \"flaot16\"]")).message(),
            "t.json: ops.Conv.dtypes[1]: unknown element type \"flaot16\"");
  EXPECT_EQ(parseError(variant("\"nchw\"", "\"nwhc\"")).message(),
            "t.json: preferred_layout: expected \"nchw\" or \"nhwc\", got \"nwhc\"");
  EXPECT_EQ(parseError(variant("\"description\": \"test\",", "")).message(), "t.json: description: required key missing");
  EXPECT_EQ(parseError(variant("{\"int8_symmetric\": true}", "{}")).message(),
            "t.json: quantization: the target supports no element type at all");
  EXPECT_EQ(parseError(variant("\"ops\": {\"Conv\": {\"max_kernel\": 5}}", "\"ops\": {\"Conv\": 5}")).message(),
            "t.json: ops.Conv: expected an object");
  Status syntax = parseError(variant("\"name\": \"t\",", "\"name\": \"t\""));
  EXPECT_EQ(syntax.code(), StatusCode::InvalidArgument);
  EXPECT_EQ(syntax.message().rfind("t.json: invalid JSON: ", 0), 0u) << syntax.message();
}

TEST(TargetJson, MissingFileIsIoError) {
  auto p = loadTargetProfile(test::tempDir("target_json") / "absent.json");
  ASSERT_FALSE(p.hasValue());
  EXPECT_EQ(p.status().code(), StatusCode::Io);
  EXPECT_EQ(exitCodeFor(p.status().code()), 5);
  EXPECT_NE(p.status().message().find("absent.json"), std::string::npos);
}

TEST(TargetJson, LoadsFileAndNamesItInErrors) {
  auto dir = test::tempDir("target_json_file");
  {
    std::ofstream(dir / "rk_typo.json") << variant("\"max_kernel\": 5", "\"max_stride\": [2]");
  }
  auto p = loadTargetProfile(dir / "rk_typo.json");
  ASSERT_FALSE(p.hasValue());
  EXPECT_EQ(p.status().message(), "rk_typo.json: ops.Conv.max_stride: expected an integer");
}

TEST(TargetJson, EveryBuiltinProfileLoadsAndRoundTrips) {
  std::vector<std::string> names = builtinTargetNames();
  for (const char* want : {"generic_npu", "rk3588", "qualcomm_htp", "edgetpu", "ethos_u55"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  for (const std::string& n : names) {
    SCOPED_TRACE(n);
    auto p = builtinTarget(n);
    ASSERT_TRUE(p.hasValue()) << p.status().toString();
    EXPECT_EQ(p->name, n) << "the file name and the profile name differ";
    EXPECT_FALSE(p->description.empty());
    EXPECT_FALSE(p->sources.empty()) << "every built-in profile names its sources";
    EXPECT_GT(p->ops.size(), 10u);
    auto again = parseTargetProfile(targetProfileToJson(*p).dump(), n + ".json");
    ASSERT_TRUE(again.hasValue()) << again.status().toString();
    EXPECT_TRUE(*again == *p) << "round trip changed the profile";
    // The embedded copy is the file in the source tree.
    auto fromFile = loadTargetProfile(test::sourceDir() / "targets" / (n + ".json"));
    ASSERT_TRUE(fromFile.hasValue()) << fromFile.status().toString();
    EXPECT_TRUE(*fromFile == *p);
  }
  auto unknown = builtinTarget("rk9999");
  ASSERT_FALSE(unknown.hasValue());
  EXPECT_EQ(unknown.status().code(), StatusCode::InvalidArgument);
  EXPECT_NE(unknown.status().message().find("rk3588"), std::string::npos) << "lists the known targets";
}

TEST(TargetJson, EdgeTpuIsInt8Only) {
  auto p = builtinTarget("edgetpu");
  ASSERT_TRUE(p.hasValue());
  EXPECT_TRUE(p->quantization.int8());
  EXPECT_FALSE(p->quantization.floatCompute());
  EXPECT_FALSE(p->quantization.int16Activations);
  EXPECT_TRUE(p->requiresStaticShapes);
  EXPECT_EQ(p->maxInnermostDims, 3);
}

}  // namespace
}  // namespace npuconv
