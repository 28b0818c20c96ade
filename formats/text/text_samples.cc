// text_samples.cc - placeholder until the tokenizer lands (issue 9, section 2).
#include "formats/text/text_samples.h"

namespace npuconv {

Expected<std::unique_ptr<SampleStream>> openTextSamples(const CalibDataOptions&, const std::vector<ModelInputSpec>&) {
  return Status::unsupported("text calibration: not implemented yet");
}

}  // namespace npuconv
