// fp16_block_list.h - the ops convertToFp16 keeps in float32 by default, each with its reason.
// docs/quantization-precisions.md shows the same table; opt.fp16BlockOps replaces it.
//
// Measured (tests/oracle/precisions_oracle_test.cc, ONNX Runtime 1.30 CPU): every op of the zoo
// models and PP-OCRv4 has a float16 kernel, and MiniLM keeps pooled cosine 0.999999 with
// nothing blocked, Softmax and LayerNormalization included, so neither is listed. The list
// holds the ops whose float16 results overflow (65504) or lose their sums on real activations:
// a decomposed LayerNorm squares x - mean (|x - mean| > 256 overflows: trained transformers
// have outlier channels of several hundred) and averages 384-1024 of those.
#pragma once

#include <string_view>

namespace npuconv {

struct Fp16Blocked {
  std::string_view op;
  std::string_view reason;
};

inline constexpr Fp16Blocked kFp16DefaultBlockList[] = {
    {"Pow", "squares of activations above 256 overflow float16 (the variance of a decomposed LayerNorm)"},
    {"ReduceMean", "the mean of squares of a decomposed LayerNorm: its input must stay float32 (Pow)"},
    {"ReduceSum", "sums of many activations overflow or lose the small terms in float16"},
    {"ReduceSumSquare", "squares overflow float16 above 256"},
    {"ReduceL2", "squares overflow float16 above 256"},
    {"ReduceLogSumExp", "exp overflows float16 above 11"},
    {"Exp", "exp overflows float16 above 11.09"},
    {"CumSum", "running sums overflow or lose the small terms in float16"},
};

/// Ops whose float types are fixed by their definition, never converted whatever the list says:
/// ONNX gives them no float16 variant (Range, Celu, NonMaxSuppression, TfIdfVectorizer), or their
/// float32 inputs or outputs are not type-generic in the opsets npuconv writes (QuantizeLinear's
/// scale, DequantizeLinear's output before opset 19), or a dtype attribute decides their output.
inline constexpr std::string_view kFp16FixedFloat32Ops[] = {
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "RandomNormal", "RandomUniform",
    "RandomNormalLike", "RandomUniformLike", "Multinomial", "EyeLike", "Range", "Celu",
    "NonMaxSuppression", "TfIdfVectorizer",
};

}  // namespace npuconv
