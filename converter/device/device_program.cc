// device_program.cc - see device_program.h.
#include "converter/device/device_program.h"

#include <algorithm>

namespace npuconv::device {

uint64_t Tensor::byteSize() const {
  uint64_t n = dtypeSize(dtype);
  for (int64_t d : dims) n *= static_cast<uint64_t>(d);
  return n;
}

std::string_view opCodeName(OpCode c) {
  switch (c) {
    case OpCode::Quantize: return "Quantize";
    case OpCode::Dequantize: return "Dequantize";
    case OpCode::Conv: return "QConv";
    case OpCode::Gemm: return "QGemm";
    case OpCode::Add: return "QAdd";
    case OpCode::MaxPool: return "QMaxPool";
    case OpCode::AveragePool: return "QAveragePool";
    case OpCode::GlobalAveragePool: return "QGlobalAveragePool";
    case OpCode::Concat: return "QConcat";
    case OpCode::Reshape: return "QReshape";
    case OpCode::Transpose: return "QTranspose";
    case OpCode::FloatOp: return "FloatOp";
  }
  return "?";
}

bool isKnownOpCode(uint32_t c) { return (c >= 1 && c <= 11) || c == 100; }

const Attr* Op::attr(std::string_view n) const {
  for (const Attr& a : attrs)
    if (a.name == n) return &a;
  return nullptr;
}

int64_t Op::attrInt(std::string_view n, int64_t def) const {
  const Attr* a = attr(n);
  return a && (a->kind == AttrKind::Int || a->kind == AttrKind::Ints) && !a->ints.empty() ? a->ints[0] : def;
}

std::vector<int64_t> Op::attrInts(std::string_view n) const {
  const Attr* a = attr(n);
  return a && (a->kind == AttrKind::Int || a->kind == AttrKind::Ints) ? a->ints : std::vector<int64_t>{};
}

int32_t Program::addTensor(Tensor t) {
  tensors.push_back(std::move(t));
  return static_cast<int32_t>(tensors.size() - 1);
}

int32_t Program::addQuant(QuantParams q) {
  for (size_t i = 0; i < quant.size(); ++i)
    if (quant[i] == q) return static_cast<int32_t>(i);
  quant.push_back(std::move(q));
  return static_cast<int32_t>(quant.size() - 1);
}

size_t Program::npuOps() const {
  return static_cast<size_t>(std::count_if(ops.begin(), ops.end(), [](const Op& o) { return !o.cpuFallback(); }));
}

}  // namespace npuconv::device
