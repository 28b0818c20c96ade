// calib_sources.h - the calibration data sources openCalibData dispatches to, one per file.
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include "formats/calib/calib_data.h"

namespace npuconv {

Expected<std::unique_ptr<SampleStream>> openNpySamples(const std::filesystem::path& path, const CalibDataOptions& opt,
                                                       const std::vector<ModelInputSpec>& inputs);
Expected<std::unique_ptr<SampleStream>> openNpzSamples(const std::filesystem::path& path, const CalibDataOptions& opt,
                                                       const std::vector<ModelInputSpec>& inputs);
Expected<std::unique_ptr<SampleStream>> openHdf5Samples(const std::filesystem::path& path, const CalibDataOptions& opt,
                                                        const std::vector<ModelInputSpec>& inputs);
/// A dataset list (.txt): one sample per line, one path per input.
Expected<std::unique_ptr<SampleStream>> openListSamples(const std::filesystem::path& path, const CalibDataOptions& opt,
                                                        const std::vector<ModelInputSpec>& inputs);
/// Images: a folder, or image paths, for a single-input model.
Expected<std::unique_ptr<SampleStream>> openImageSamples(const std::vector<std::filesystem::path>& paths,
                                                         const CalibDataOptions& opt,
                                                         const std::vector<ModelInputSpec>& inputs);

}  // namespace npuconv
