// equalize.h - depthwise input equalization before INT8 calibration.
//
// A depthwise Conv reads its input with one per-tensor activation scale, but its channels are
// independent: when one channel spans [-128, 128] and another [-2, 2], the small one keeps about
// 2 of the 256 steps. PP-OCRv4's stem (Conv -> BatchNormalization -> depthwise Conv, no
// activation between) is such a tensor, and it alone limits the INT8 recognizer's output to about
// 11 dB (issue 10). When the tensor comes straight from a Conv (optionally through Relu, which
// commutes with a positive scale), the float model is unchanged by dividing the producer's output
// channel c by s[c] and multiplying the depthwise filter of channel c by s[c]:
//
//   before: %t = Conv(%x, W1, b1)   [%t = Relu(%t)]   %y = Conv(%t, W2, b2, group = C)
//   after:  W1'[c] = W1[c] / s[c], b1'[c] = b1[c] / s[c], W2'[o] = W2[o] * s[o / multiplier]
//
// with s[c] = 2^ceil(log2(a[c] / A)), a[c] the largest |t| of channel c over the first
// calibration samples and A the largest over all channels: every channel then spans (A/2, A]
// and the tensor's range does not grow. Powers of two keep the rescaled float weights exact and
// make the choice immune to last-bit differences in a[c]. Both weights are quantized per output
// channel, so their INT8 error does not change; the activation now uses its steps on every
// channel (the cross-layer equalization of Nagel et al., "Data-Free Quantization", driven by the
// activation instead of the weights because the activation is what is quantized per tensor).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "converter/exec/sample_stream.h"
#include "converter/ir/model.h"
#include "converter/support/status.h"

namespace npuconv {

struct EqualizeOptions {
  int64_t samples = 8;  // the first N samples of the data measure a[c]
  int threads = 0;
};

/// One rescaled pair: the node keys (converter/ir/node_keys.h) of the producer Conv and the
/// depthwise Conv, and s[c].
struct EqualizedPair {
  std::string producer, depthwise;
  std::vector<double> scales;
};

/// Rescales every eligible Conv -> [Relu] -> depthwise Conv pair of the main graph in place.
/// Returns the report entries, one per pair by original ONNX names: the producer, the depthwise
/// Conv, the channel count and the spread max a[c] / min a[c] before and after (dead channels,
/// a[c] = 0, are left alone). An empty array when the model has no such pair (no data is read).
/// `chosen`, when given, receives the pairs rescaled and their scales (applyDepthwiseScales).
Expected<nlohmann::ordered_json> equalizeDepthwiseInputs(Model& m, SampleStream& data, const EqualizeOptions& opt,
                                                         std::vector<EqualizedPair>* chosen = nullptr);

/// Rescales the same pairs of another compilation of the model (a shape variant: the same
/// graph at other shapes) by scales chosen elsewhere, without reading data: the rescaled
/// weights are then bit-identical to the ones those scales gave there. A pair that is not an
/// eligible pair with that channel count here is an internal error naming it.
Status applyDepthwiseScales(Model& m, const std::vector<EqualizedPair>& pairs);

/// The rescaled tensors are recorded in the model metadata under this key, one line per tensor:
/// "<original ONNX node name>\t<s[0]> <s[1]> ...": the tensor that node stands for holds the
/// original's channel c divided by s[c]. `npuconv compare` multiplies it back before comparing
/// with the unequalized float model, so a per-layer report shows quantization error, not the
/// rescaling.
inline constexpr std::string_view kChannelScalesKey = "npuconv.channel_scales";
std::map<std::string, std::vector<double>> recordedChannelScales(const Model& m);

}  // namespace npuconv
