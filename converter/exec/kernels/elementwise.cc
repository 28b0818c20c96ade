// elementwise.cc - kernels of the elementwise family (see kernels.h). Not written yet.
#include "converter/exec/kernel.h"
#include "converter/exec/kernels/kernels.h"

namespace npuconv {

void registerElementwiseKernels(KernelRegistry&) {}

}  // namespace npuconv
