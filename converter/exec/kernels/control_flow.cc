// control_flow.cc - kernels of the control_flow family (see kernels.h). Not written yet.
#include "converter/exec/kernel.h"
#include "converter/exec/kernels/kernels.h"

namespace npuconv {

void registerControlFlowKernels(KernelRegistry&) {}

}  // namespace npuconv
