// nn.cc - kernels of the nn family (see kernels.h). Not written yet.
#include "converter/exec/kernel.h"
#include "converter/exec/kernels/kernels.h"

namespace npuconv {

void registerNnKernels(KernelRegistry&) {}

}  // namespace npuconv
