// device_program.h - the format-free, in-memory device program: what the blob (docs/blob-format.md)
// stores and what the device interpreter runs. Tensors carry dtype, static dims, layout,
// quantization (per tensor or per axis) and either an arena offset (activations) or weight data;
// ops come in execution order with typed attributes, a fused activation and a CPU-fallback flag.
// The lowering from the QDQ IR lives in pipeline/lower_to_device; the byte format in formats/blob.
// Enum values are the blob's u32 codes: never renumber, only append.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "converter/device/fixed_point.h"
#include "converter/ir/dtype.h"
#include "converter/ir/tensor.h"

namespace npuconv::device {

/// Memory layout of a tensor's elements (row-major over the named dim order).
enum class Layout : uint32_t { Any = 0, NCHW = 1, NHWC = 2, OIHW = 3, OHWI = 4 };

/// real = scale[c] * (q - zeroPoint[c]); one entry per tensor (axis -1) or per slice along axis.
struct QuantParams {
  int32_t axis = -1;
  std::vector<float> scales;
  std::vector<int32_t> zeroPoints;
  bool perAxis() const { return axis >= 0; }
  bool operator==(const QuantParams&) const = default;
};

enum class Storage : uint32_t { Activation = 0, Weight = 1 };

struct Tensor {
  std::string name;
  DType dtype = DType::Undefined;
  std::vector<int64_t> dims;  // outermost first
  Layout layout = Layout::Any;
  int32_t quant = -1;  // index into Program::quant, -1: not quantized
  Storage storage = Storage::Activation;
  uint64_t arenaOffset = 0;  // activations: byte offset in the arena (set by the memory plan)
  TensorRef weight;          // weights: the bytes (the writer's IR data or a view into the blob)
  uint64_t byteSize() const;
};

/// Op codes. Integer ops compute in integers only (int32 accumulation, fixed-point requant);
/// FloatOp is any ONNX operator run in float on the CPU (its type and domain are strings).
enum class OpCode : uint32_t {
  Quantize = 1,           // float -> q: round half to even, saturate (the I/O borders)
  Dequantize = 2,         // q -> float
  Conv = 3,               // q x int8 -> int32 (+ int32 bias) -> requant -> q; groups/depthwise
  Gemm = 4,               // q[M,K] x int8 W -> q[M,N]; attr trans_b
  Add = 5,                // q + q -> q (TFLite fixed-point add)
  MaxPool = 6,            // max in q, then rescale
  AveragePool = 7,        // sum in int32, then requant by s_in / (s_out * count)
  GlobalAveragePool = 8,
  Concat = 9,             // each input rescaled to the output's quantization
  Reshape = 10,           // Reshape/Flatten/Squeeze/Unsqueeze: copy + rescale
  Transpose = 11,         // attr perm, + rescale
  FloatOp = 100,          // CPU fallback: an ONNX op in float
};
std::string_view opCodeName(OpCode c);
bool isKnownOpCode(uint32_t c);

enum class FusedActivation : uint32_t { None = 0, Relu = 1, Clip = 2 };

enum class AttrKind : uint32_t { Int = 1, Ints = 2, Float = 3, Floats = 4, String = 5 };

struct Attr {
  std::string name;
  AttrKind kind = AttrKind::Int;
  std::vector<int64_t> ints;   // Int (one value), Ints
  std::vector<float> floats;   // Float (one value), Floats
  std::string str;             // String
  bool operator==(const Attr&) const = default;
};

enum OpFlags : uint32_t { kOpCpuFallback = 1u << 0 };

struct Op {
  OpCode code = OpCode::FloatOp;
  std::string type;    // ONNX op type (FloatOp) or the integer op's name
  std::string domain;  // FloatOp: the ONNX domain ("" default)
  uint32_t flags = 0;
  std::vector<int32_t> inputs;   // tensor indices; -1: absent optional input
  std::vector<int32_t> outputs;
  std::vector<Attr> attrs;
  FusedActivation act = FusedActivation::None;
  int32_t actMin = 0, actMax = 0;  // integer ops: output clamp in the quantized domain
  std::string name;                        // the IR node's name
  std::vector<std::string> provenance;     // original ONNX node names
  bool cpuFallback() const { return flags & kOpCpuFallback; }
  const Attr* attr(std::string_view n) const;
  int64_t attrInt(std::string_view n, int64_t def) const;
  std::vector<int64_t> attrInts(std::string_view n) const;
};

struct IoBinding {
  int32_t tensor = -1;
  std::string name;
  bool normalizationBakedIn = false;  // whether mean/std scaling is part of the program
};

struct MemoryPlanSummary {
  uint64_t arenaBytes = 0;       // the arena the plan needs
  uint64_t activationBytes = 0;  // sum of every activation's size (no reuse)
  uint64_t maxLiveBytes = 0;     // max over op steps of the bytes live at once (lower bound)
};

struct KeyValue {
  std::string key, value;
  bool operator==(const KeyValue&) const = default;
};

struct Program {
  std::vector<Tensor> tensors;
  std::vector<QuantParams> quant;
  std::vector<Op> ops;  // execution order
  std::vector<IoBinding> inputs, outputs;
  MemoryPlanSummary memory;
  int64_t onnxOpset = 0;               // the default-domain opset of FloatOp ops
  std::vector<KeyValue> provenance;    // npuconv version, source key, pipeline, target, calibration
  std::vector<KeyValue> metadata;      // free-form npu.* keys
  /// How every requantization rounds: Single for what npuconv writes now (format 1.3's header
  /// flag requant_single_rounding), Double for blobs of formats 1.0-1.2 (docs/blob-format.md §8.4).
  Rounding requantRounding = Rounding::Single;

  int32_t addTensor(Tensor t);
  int32_t addQuant(QuantParams q);  // deduplicated
  size_t npuOps() const;
  size_t cpuOps() const { return ops.size() - npuOps(); }
};

}  // namespace npuconv::device
