// model.h - a whole model: the main graph plus everything ONNX keeps around it, so that an
// import followed by an export loses nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "converter/ir/graph.h"

namespace npuconv {

struct OpsetImport {
  std::string domain;  // "" is the default ONNX domain
  int64_t version = 0;
  bool operator==(const OpsetImport&) const = default;
};

/// A model-local function (ONNX FunctionProto): the body is a graph whose inputs and outputs
/// are the function's formal parameters (types unknown).
struct Function {
  std::string name;
  std::string domain;
  std::string docString;
  std::vector<std::string> attributes;  // formal attribute names
  std::vector<OpsetImport> opsetImports;
  GraphPtr body;
};

struct Model {
  int64_t irVersion = 8;
  std::vector<OpsetImport> opsetImports;
  std::string producerName;
  std::string producerVersion;
  std::string domain;
  int64_t modelVersion = 0;
  std::string docString;
  std::vector<std::pair<std::string, std::string>> metadata;
  GraphPtr graph = std::make_shared<Graph>();
  std::vector<Function> functions;
  /// Serialized ONNX TrainingInfoProto entries, kept opaque.
  std::vector<std::string> trainingInfo;

  /// Version of `domain` ("" or "ai.onnx" for the default domain); 0 when not imported.
  int64_t opsetVersion(const std::string& domain = "") const {
    for (const auto& o : opsetImports)
      if (o.domain == domain || (domain.empty() && o.domain == "ai.onnx") ||
          (domain == "ai.onnx" && o.domain.empty()))
        return o.version;
    return 0;
  }
};

}  // namespace npuconv
