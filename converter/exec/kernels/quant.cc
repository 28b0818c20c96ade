// quant.cc - kernels of the quant family (see kernels.h). Not written yet.
#include "converter/exec/kernel.h"
#include "converter/exec/kernels/kernels.h"

namespace npuconv {

void registerQuantKernels(KernelRegistry&) {}

}  // namespace npuconv
