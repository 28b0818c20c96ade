// calib_data.h - opens calibration (or evaluation) data as a SampleStream bound to the model's
// inputs by name: .npy, .npz, HDF5, RKNN-style dataset lists, image folders and lists, and
// text (formats/text/). See docs/calibration-data.md for the rules of each source.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "converter/exec/sample_stream.h"
#include "converter/ir/dtype.h"
#include "converter/support/status.h"

namespace npuconv {

/// A model input as calibration data must fill it: dims after shape freezing (-1: dynamic).
struct ModelInputSpec {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> dims;
};

struct CalibDataOptions {
  /// --calib: a .npy, .npz, .h5/.hdf5 file, a dataset list (.txt: one sample per line, one path
  /// per model input, .npy or image), a folder of images, or several image paths.
  std::vector<std::filesystem::path> paths;
  /// --calib-text: UTF-8, one sample per line; needs a tokenizer (explicit or found beside the
  /// model) and --seq-len.
  std::filesystem::path textFile;
  std::filesystem::path tokenizer;  // --tokenizer tokenizer.json | vocab.txt
  std::filesystem::path modelDir;   // where a HuggingFace-layout tokenizer is looked for
  int64_t seqLen = 0;               // --seq-len (0: the model's frozen sequence dim)
  /// Text, dynamic sequence dim: pad every sample to seqLen with [PAD] (attention mask 0)
  /// instead of emitting it at its true length (the default; see docs/text-calibration.md).
  bool padToSeqLen = false;
  /// Images: per-channel mean and std in the image's 0..255 scale (RKNN's mean_values and
  /// std_values), channel order of the model input (--rgb default, --bgr).
  std::vector<float> mean, std;
  bool bgr = false;
  int64_t maxSamples = 0;  // --calib-samples N (0: all)
  int64_t skipSamples = 0; // leading samples skipped (held-out splits)
};

/// Opens the data named by `opt` for a model with these inputs. Errors name the file and input.
Expected<std::unique_ptr<SampleStream>> openCalibData(const CalibDataOptions& opt,
                                                      const std::vector<ModelInputSpec>& inputs);

/// One .npy file per tensor name: a folder of NAME.npy, or `NAME=FILE.npy` arguments.
using NamedNpyFiles = std::vector<std::pair<std::string, std::filesystem::path>>;

/// Samples from one .npy per input name, with the stacking rules of every array source; extra
/// files are ignored. `what` names the data in errors and describe().
Expected<std::unique_ptr<SampleStream>> openNamedNpySamples(const NamedNpyFiles& files, const CalibDataOptions& opt,
                                                            const std::vector<ModelInputSpec>& inputs,
                                                            const std::string& what);
/// The .npy files directly in `dir`, named by their stem, sorted by name.
Expected<NamedNpyFiles> npyFilesIn(const std::filesystem::path& dir);

/// A content key of the data and of every option that changes the samples (xxHash64 over the
/// bytes read, hex): the calibration cache is keyed by it.
Expected<std::string> calibDataKey(const CalibDataOptions& opt);

}  // namespace npuconv
