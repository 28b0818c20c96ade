// fuzz_onnx.cc - ONNX import (parseOnnxBytes), then, on what parses: the verifier, a
// serialize/re-import round trip, and the O1 and O2 pipelines with the emit stage's
// standard-ops phase, each followed by the verifier and a round trip (what npuconv writes must
// read back).
#include <cstdint>
#include <filesystem>

#include "converter/ir/verifier.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "passes/registry.h"
#include "tests/fuzz/fuzz_util.h"

namespace npuconv::fuzz {
namespace {

// External data resolves against an empty folder: a location must not reach outside it.
const std::filesystem::path& baseDir() {
  static const std::filesystem::path dir = [] {
    char tmpl[] = "/tmp/npuconv-fuzz-onnx-XXXXXX";
    if (!mkdtemp(tmpl)) std::abort();
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

Expected<Model> parse(std::string_view bytes) { return parseOnnxBytes(bytes, baseDir(), "fuzz.onnx"); }

void roundTrip(const Model& m, std::string_view stage) {
  std::string bytes = serializeModel(m);
  auto again = parse(bytes);
  if (!again) fail(std::string(stage) + ": the model npuconv wrote does not read back", again.status());
}

void runPipeline(std::string_view bytes, const char* pipeline) {
  auto m = parse(bytes);
  if (!m) return;
  auto pm = buildPassManager(pipeline, "", {});
  if (!pm) fail("buildPassManager", pm.status());
  if (Status s = appendEmitStage(*pm, EmitPhase::StandardOps, {}); !s) fail("appendEmitStage", s);
  PassContext ctx;
  ctx.options["target.static-shapes"] = "0";
  // Folding stays small: a constant of 2^30 elements is legal but not what fuzzing is for.
  ctx.options["fold-constants.max-bytes"] = "1048576";
  Status s = pm->run(*m, ctx);
  checkError(s);
  if (!s) return;
  if (Status v = verifyModel(*m); !v) fail(std::string(pipeline) + ": verifier after the pipeline", v);
  roundTrip(*m, pipeline);
}

}  // namespace
}  // namespace npuconv::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace npuconv;
  using namespace npuconv::fuzz;
  std::string_view bytes = asText(data, size);
  auto m = parse(bytes);
  if (!m) {
    checkError(m.status());
    return 0;
  }
  if (Status v = verifyModel(*m); !v) fail("verifier after import", v);
  roundTrip(*m, "import");
  runPipeline(bytes, "O1");
  runPipeline(bytes, "O2");
  return 0;
}
