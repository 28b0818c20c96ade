// reduce.cc - kernels of the reduce family (see kernels.h). Not written yet.
#include "converter/exec/kernel.h"
#include "converter/exec/kernels/kernels.h"

namespace npuconv {

void registerReduceKernels(KernelRegistry&) {}

}  // namespace npuconv
