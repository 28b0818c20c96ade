// text_samples.h - calibration samples from UTF-8 text: one sample per line, tokenized with a
// BERT WordPiece tokenizer into input_ids / attention_mask / token_type_ids bound to the
// model's inputs by name.
#pragma once

#include <memory>
#include <vector>

#include "formats/calib/calib_data.h"

namespace npuconv {

/// Opens opt.textFile with the tokenizer opt.tokenizer (or the one found in opt.modelDir).
Expected<std::unique_ptr<SampleStream>> openTextSamples(const CalibDataOptions& opt,
                                                        const std::vector<ModelInputSpec>& inputs);

}  // namespace npuconv
