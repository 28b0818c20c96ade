// nhwc.h - the NHWC op domain shared by convert-layout-nhwc and lower-nhwc-to-onnx.
//
// Domain "ai.npuconv.nhwc" (version 1) holds NHWC twins of ONNX's NCHW-only ops, like ONNX
// Runtime's internal NHWC domain: same op_type and attributes as the ONNX op, but input 0 and
// output 0 are NHWC ([N, H, W, C]); Conv's weight (input 1) is stored [M, kH, kW, C/group]
// (OHWI, as TFLite); every other input (bias, BN statistics, Resize scales) is unchanged, so
// Resize's scales/sizes stay in NCHW order. The executor runs them through
// converter/exec/kernels/nn_nhwc.cc; ONNX output lowers them back (lower-nhwc-to-onnx).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "converter/ir/model.h"
#include "converter/pass/pass.h"

namespace npuconv::nhwc {

inline constexpr std::string_view kDomain = "ai.npuconv.nhwc";
inline constexpr int64_t kDomainVersion = 1;
/// Transpose perms: NCHW -> NHWC and NHWC -> NCHW.
inline const std::vector<int64_t> kToNhwc = {0, 2, 3, 1};
inline const std::vector<int64_t> kToNchw = {0, 3, 1, 2};

/// Ops that have an NHWC twin (rank-4 data only).
bool hasNhwcTwin(std::string_view opType);
inline bool isNhwcNode(const Node& n) { return n.domain() == kDomain; }

/// `t` permuted: result dims[i] = t.dims[perm[i]] (raw bytes, any fixed-size dtype).
TensorData permute(const TensorData& t, const std::vector<int64_t>& perm);
/// A type with its shape permuted the same way (rank unknown stays unknown; another rank
/// becomes rank unknown).
TensorType permuteType(const TensorType& t, const std::vector<int64_t>& perm);

/// Adds a Transpose(v, perm) before `before`, named after `origin` + `suffix`, with no
/// provenance (it stands for no node of the user's model); its result gets v's type permuted.
Value* addTranspose(Graph& g, Value* v, const std::vector<int64_t>& perm, Node* before, const Node* origin,
                    std::string_view suffix);
/// Whether `n` is a Transpose with exactly `perm`.
bool isTransposeWith(const Node* n, const std::vector<int64_t>& perm);

/// Adds or removes the domain's opset import depending on whether any node uses it.
void syncOpsetImport(Model& m);

}  // namespace npuconv::nhwc

namespace npuconv {
std::unique_ptr<Pass> createConvertLayoutNhwcPass();
std::unique_ptr<Pass> createLowerNhwcToOnnxPass();
}  // namespace npuconv
