// registry.cc - the only list of passes, sorted by name, and the named pipelines.
#include "passes/registry.h"

#include <algorithm>

#include "passes/fixpoint.h"
#include "passes/layout/nhwc.h"
#include "passes/passes.h"

namespace npuconv {

const std::vector<PassInfo>& allPasses() {
  static const std::vector<PassInfo> kPasses = {
      {"check-static-shapes", "Fail unless every tensor has a static shape (targets that need them); fills in types", &createCheckStaticShapesPass},
      {"convert-layout-nhwc", "Run Conv/pool regions in NHWC (ai.npuconv.nhwc ops), Transposes only at region boundaries", &createConvertLayoutNhwcPass},
      {"eliminate-common-subexpressions", "Merge nodes with the same op, operands and attributes, and equal constants", &createEliminateCommonSubexpressionsPass},
      {"eliminate-dead-code", "Remove unused nodes, initializers and opset imports", &createEliminateDeadCodePass},
      {"eliminate-identity", "Remove Identity, inference Dropout and provable no-op Cast/Reshape/Transpose/Pad/Slice/Expand/Squeeze", &createEliminateIdentityPass},
      {"fold-constants", "Evaluate nodes whose operands are all constant", &createFoldConstantsPass},
      {"fold-conv-bn", "Fold BatchNormalization into Conv, ConvTranspose, Gemm or MatMul", &createFoldConvBnPass},
      {"fold-conv-mul-add", "Fold a per-channel constant Mul or Add into the preceding Conv", &createFoldConvMulAddPass},
      {"fold-if", "Replace an If with a constant condition by the branch it takes", &createFoldIfPass},
      {"fold-pad-into-conv", "Fold a constant Pad into the pads of Conv, AveragePool or MaxPool", &createFoldPadIntoConvPass},
      {"fold-reshape-chains", "Reshape the input of a Reshape/Flatten/Squeeze/Unsqueeze directly", &createFoldReshapeChainsPass},
      {"fold-squeeze-unsqueeze", "Cancel Squeeze/Unsqueeze pairs, or merge them into one Reshape", &createFoldSqueezeUnsqueezePass},
      {"fold-transpose-chains", "Compose consecutive Transposes and drop identity ones", &createFoldTransposeChainsPass},
      {"freeze-shapes", "Fix input shapes/symbolic dims (--input-shape, --dim) and infer static shapes everywhere", &createFreezeShapesPass},
      {"fuse-conv-act", "Group Conv with its activation (fusion group, standard ONNX kept)", &createFuseConvActPass},
      {"fuse-gelu", "Decomposed Gelu formulas into one Gelu (written decomposed below opset 20)", &createFuseGeluPass},
      {"fuse-layer-norm", "Decomposed LayerNorm into LayerNormalization (written decomposed below opset 17)", &createFuseLayerNormPass},
      {"fuse-matmul-add", "MatMul + bias Add into Gemm when 2-D, else a linear group", &createFuseMatMulAddPass},
      {"lower-nhwc-to-onnx", "ai.npuconv.nhwc ops back to Transpose + standard ONNX op + Transpose", &createLowerNhwcToOnnxPass},
      {"lower-to-opset", "Write fused ops newer than the model's opset (LayerNormalization, Gelu) decomposed; runs before ONNX emission", &createLowerToOpsetPass},
      {"upgrade-opset", "Raise the default-domain opset to --opset N, rewriting ops whose form changed (Clip, Slice, Pad, Squeeze, Softmax...)", &createUpgradeOpsetPass},
  };
  return kPasses;
}

std::unique_ptr<Pass> createPass(std::string_view name) {
  for (const PassInfo& p : allPasses())
    if (p.name == name) return p.create();
  return nullptr;
}

namespace {

/// A pipeline entry: one pass, or a group repeated until the model stops changing.
struct Entry {
  std::vector<std::string> passes;  // one name, or the group's names
  int maxRounds = 0;                // 0: a single pass; else a fixpoint group
};
struct Pipeline {
  std::string_view name;
  std::vector<Entry> entries;
};

constexpr int kFixpointRounds = 6;

const std::vector<std::string> kCleanup = {
    "eliminate-identity",
    "eliminate-common-subexpressions",  // after identities: copies through Identity become equal
    "eliminate-dead-code",              // last: collects what the others left unused
};

const std::vector<std::string> kFold = {
    "fold-constants",          // first: Constant nodes become initializers, shape arithmetic constants
    "fold-if",                 // after fold-constants: shape conditions are constants by now
    "eliminate-identity",      // after fold-constants: no-op proofs need constant shapes and pads
    "fold-transpose-chains",   // after identities are gone, chains are adjacent
    "fold-reshape-chains",
    "fold-squeeze-unsqueeze",
    "fold-pad-into-conv",      // before fold-conv-bn: keeps the Conv the BN's direct producer
    "fold-conv-bn",            // before fold-conv-mul-add: a Mul/Add after a BN then reaches the Conv
    "fold-conv-mul-add",
    "eliminate-common-subexpressions",  // after folding: folded constants and nodes may now be equal
    "eliminate-dead-code",     // last: drops the weights and nodes the folds replaced
};

const std::vector<Pipeline>& pipelines() {
  static const std::vector<Pipeline> kPipelines = {
      {"none", {}},
      {"cleanup", {{kCleanup, 0}}},
      {"O1", {{kFold, kFixpointRounds}}},
      {"O2",
       {{kFold, kFixpointRounds},
        {{"fuse-gelu"}, 0},        // before the act fusions: Gelu must be one node to be an activation
        {{"fuse-layer-norm"}, 0},
        {{"fuse-matmul-add"}, 0},  // after fuse-gelu: Gelu after MatMul+Add joins the linear group
        {{"fuse-conv-act"}, 0},
        {{"eliminate-dead-code"}, 0}}},  // last: constants the fusions replaced
      {"npu",
       {{{"freeze-shapes"}, 0},  // first: static shapes let the fold group remove Shape arithmetic
        {kFold, kFixpointRounds},
        {{"fuse-gelu"}, 0},
        {{"fuse-layer-norm"}, 0},
        {{"fuse-matmul-add"}, 0},
        {{"fuse-conv-act"}, 0},
        {{"convert-layout-nhwc"}, 0},  // the target's layout ("target.layout"; --layout overrides)
        {{"eliminate-dead-code"}, 0},
        {{"check-static-shapes"}, 0}}},  // last: names what stayed dynamic
  };
  return kPipelines;
}

const Pipeline* findPipeline(std::string_view name) {
  for (const Pipeline& p : pipelines())
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace

std::vector<std::string> pipelineNames() {
  std::vector<std::string> out;
  for (const Pipeline& p : pipelines()) out.emplace_back(p.name);
  return out;
}

Expected<std::vector<std::string>> pipelinePasses(std::string_view pipeline) {
  if (const Pipeline* p = findPipeline(pipeline)) {
    std::vector<std::string> names;
    for (const Entry& e : p->entries) names.insert(names.end(), e.passes.begin(), e.passes.end());
    return names;
  }
  std::string known;
  for (const auto& n : pipelineNames()) known += (known.empty() ? "" : ", ") + n;
  return Status::invalidArgument("unknown pipeline \"{}\" (known: {})", pipeline, known);
}

Expected<PassManager> buildPassManager(std::string_view pipeline, std::string_view passList,
                                       const std::vector<std::string>& disabled, std::string_view ensureFirst) {
  std::vector<Entry> entries;
  if (!passList.empty()) {
    if (passList != "none") {
      size_t start = 0;
      while (start <= passList.size()) {
        size_t comma = passList.find(',', start);
        std::string_view item = passList.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        if (!item.empty()) entries.push_back({{std::string(item)}, 0});
        if (comma == std::string_view::npos) break;
        start = comma + 1;
      }
    }
  } else {
    NPU_TRY(pipelinePasses(pipeline).status());
    entries = findPipeline(pipeline)->entries;
  }
  if (!ensureFirst.empty() && std::none_of(entries.begin(), entries.end(), [&](const Entry& e) {
        return std::find(e.passes.begin(), e.passes.end(), ensureFirst) != e.passes.end();
      }))
    entries.insert(entries.begin(), Entry{{std::string(ensureFirst)}, 0});
  auto make = [&](const std::string& n) -> Expected<std::unique_ptr<Pass>> {
    std::unique_ptr<Pass> p = createPass(n);
    if (!p) return Status::invalidArgument("unknown pass \"{}\" (see `npuconv passes`)", n);
    return p;
  };
  auto isDisabled = [&](const std::string& n) {
    return std::find(disabled.begin(), disabled.end(), n) != disabled.end();
  };
  PassManager pm;
  for (const Entry& e : entries) {
    if (e.maxRounds == 0) {
      if (isDisabled(e.passes[0])) continue;
      NPU_ASSIGN_OR_RETURN(std::unique_ptr<Pass> p, make(e.passes[0]));
      pm.add(std::move(p));
      continue;
    }
    std::vector<std::unique_ptr<Pass>> group;
    for (const std::string& n : e.passes) {
      if (isDisabled(n)) continue;
      NPU_ASSIGN_OR_RETURN(std::unique_ptr<Pass> p, make(n));
      group.push_back(std::move(p));
    }
    if (!group.empty())
      pm.add(std::make_unique<FixpointPass>(fmt::format("fixpoint({} passes)", group.size()), std::move(group), e.maxRounds));
  }
  for (const std::string& d : disabled) {
    bool emitHook = std::any_of(emitStage().begin(), emitStage().end(),
                                [&](const EmitEntry& e) { return e.hook && e.name == d; });
    if (!createPass(d) && !emitHook) return Status::invalidArgument("unknown pass \"{}\" in --disable", d);
  }
  return pm;
}

const std::vector<EmitEntry>& emitStage() {
  static const std::vector<EmitEntry> kEmit = {
      // ONNX has no NHWC Conv (ORT's CPU EP rejects com.microsoft.NhwcConv for float), and the
      // quantizers and checker know standard ops only: twins become Transpose + op + Transpose.
      {"lower-nhwc-to-onnx", EmitPhase::StandardOps, "ONNX and the quantizers know no NHWC ops", "", false},
      // The inverse Transpose pairs between two lowered ops cancel, so Transposes stay only at
      // region boundaries in the file too; only after a lowering, so `--pipeline none` stays
      // a lossless round trip.
      {"fold-transpose-chains", EmitPhase::StandardOps, "cancel the Transpose pairs the lowering left", "lower-nhwc-to-onnx", false},
      {"eliminate-dead-code", EmitPhase::StandardOps, "drop the NHWC weights the lowering replaced", "lower-nhwc-to-onnx", false},
      // Ops newer than the model's opset are written decomposed before quantization, so every
      // precision converts only ops valid at the opset written (a float16 LayerNormalization at
      // opset 14 has no valid decomposition afterwards: its constants and the fp16 block list
      // are decided by the quantizer). The decomposed chain is recorded as a fusion group.
      {"lower-to-opset", EmitPhase::StandardOps, "fused ops the opset lacks written decomposed (LayerNormalization, Gelu)", "", false},
      // Placement sees the IR the device would get: the quantized graph as written, NHWC
      // regions as standard ops between boundary Transposes.
      {"place-on-target", EmitPhase::Final, "per-node NPU/CPU placement for the report (changes nothing)", "", true},
  };
  return kEmit;
}

Status appendEmitStage(PassManager& pm, EmitPhase phase, const std::vector<std::string>& disabled,
                       const std::map<std::string, PassFactory, std::less<>>& hooks) {
  for (const EmitEntry& e : emitStage()) {
    if (e.phase != phase || std::find(disabled.begin(), disabled.end(), e.name) != disabled.end()) continue;
    std::unique_ptr<Pass> p;
    if (e.hook) {
      auto it = hooks.find(e.name);
      if (it == hooks.end()) continue;
      p = it->second();
    } else {
      p = createPass(e.name);
    }
    if (!p) return Status::internal("emit stage: no pass \"{}\"", e.name);
    if (e.whenChanged.empty())
      pm.add(std::move(p));
    else
      pm.addIfChanged(std::move(p), std::string(e.whenChanged));
  }
  return Status::ok();
}

}  // namespace npuconv
