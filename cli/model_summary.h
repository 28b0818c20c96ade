// model_summary.h - what `npuconv inspect` reports about a model, as JSON and as a table.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "converter/ir/model.h"
#include "formats/onnx/onnx_reader.h"

namespace npuconv {

nlohmann::ordered_json summarizeModel(const Model& m, const OnnxFileInfo& file, const std::string& path);
std::string renderSummary(const nlohmann::ordered_json& s);

}  // namespace npuconv
