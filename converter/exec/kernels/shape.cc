// shape.cc - kernels of the shape family (see kernels.h). Not written yet.
#include "converter/exec/kernel.h"
#include "converter/exec/kernels/kernels.h"

namespace npuconv {

void registerShapeKernels(KernelRegistry&) {}

}  // namespace npuconv
