// rnn.cc - kernels of the rnn family (see kernels.h). Not written yet.
#include "converter/exec/kernel.h"
#include "converter/exec/kernels/kernels.h"

namespace npuconv {

void registerRnnKernels(KernelRegistry&) {}

}  // namespace npuconv
