#include "converter/exec/fused_epilogue.h"

namespace npuconv {

namespace {
enum class State : uint8_t { Pending, Taken, Declined };
thread_local const FusedEpilogue* tlsFused = nullptr;
thread_local State tlsState = State::Pending;
thread_local gemm::Epilogue tlsEpilogue;
thread_local const FusedMaxPool* tlsMaxPool = nullptr;
thread_local const FusedDepthwise* tlsDepthwise = nullptr;
thread_local const FusedProject* tlsProject = nullptr;
thread_local const Tensor* tlsUncheckedResidual = nullptr;
thread_local const FusedSoftmax* tlsSoftmax = nullptr;
thread_local const FusedErfGelu* tlsErfGelu = nullptr;
thread_local const FusedLayerNorm* tlsLayerNorm = nullptr;
}  // namespace

FusedEpilogueScope::FusedEpilogueScope(const FusedEpilogue* fused) {
  tlsFused = fused;
  tlsState = State::Pending;
}
FusedEpilogueScope::~FusedEpilogueScope() { tlsFused = nullptr; }
bool FusedEpilogueScope::taken() const { return tlsState == State::Taken; }
bool FusedEpilogueScope::declined() const { return tlsState == State::Declined; }

const gemm::Epilogue* takeFusedEpilogue(DType outType, const std::vector<int64_t>& outDims) {
  const FusedEpilogue* f = tlsFused;
  tlsFused = nullptr;  // one kernel call takes it once (nested kernel calls see nothing)
  tlsMaxPool = nullptr;
  tlsDepthwise = nullptr;
  tlsProject = nullptr;
  tlsUncheckedResidual = nullptr;
  tlsSoftmax = nullptr;
  tlsErfGelu = nullptr;
  tlsLayerNorm = nullptr;
  if (!f) return nullptr;
  tlsEpilogue = f->ep;
  if (f->residual && !f->hasProject && !f->hasSoftmax) {
    if (outType != DType::F32 || f->residual->dtype() != DType::F32 || f->residual->dims() != outDims) {
      tlsState = State::Declined;
      return nullptr;
    }
    tlsEpilogue.residual = f->residual->data<float>();
    tlsEpilogue.ldr = 0;
  }
  tlsState = State::Taken;
  if (f->hasMaxPool) tlsMaxPool = &f->maxPool;
  if (f->hasDepthwise) tlsDepthwise = &f->depthwise;
  if (f->hasProject || f->hasSoftmax) tlsUncheckedResidual = f->residual;
  if (f->hasProject) tlsProject = &f->project;
  if (f->hasSoftmax) tlsSoftmax = &f->softmax;
  if (f->hasErfGelu) tlsErfGelu = &f->erfGelu;
  if (f->hasLayerNorm) tlsLayerNorm = &f->layerNorm;
  return &tlsEpilogue;
}

const FusedMaxPool* takenMaxPool() { return tlsState == State::Taken ? tlsMaxPool : nullptr; }

const FusedDepthwise* takenDepthwise() { return tlsState == State::Taken ? tlsDepthwise : nullptr; }

const FusedProject* takenProject(const Tensor** residual) {
  const FusedProject* p = tlsState == State::Taken ? tlsProject : nullptr;
  *residual = p ? tlsUncheckedResidual : nullptr;
  return p;
}

const FusedSoftmax* takenSoftmax(const Tensor** mask) {
  const FusedSoftmax* p = tlsState == State::Taken ? tlsSoftmax : nullptr;
  *mask = p ? tlsUncheckedResidual : nullptr;
  return p;
}

const FusedErfGelu* takenErfGelu() { return tlsState == State::Taken ? tlsErfGelu : nullptr; }

const FusedLayerNorm* takenLayerNorm() { return tlsState == State::Taken ? tlsLayerNorm : nullptr; }

void declineFusedEpilogue() {
  tlsState = State::Declined;
  tlsMaxPool = nullptr;
  tlsDepthwise = nullptr;
  tlsProject = nullptr;
  tlsUncheckedResidual = nullptr;
  tlsSoftmax = nullptr;
  tlsErfGelu = nullptr;
  tlsLayerNorm = nullptr;
}

}  // namespace npuconv
