#include "tests/support/zoo.h"

#include "formats/npy/npy.h"
#include "formats/support/mapped_file.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>

namespace npuconv::test {

namespace fs = std::filesystem;

namespace {

// Bump when fillZooTensor changes: it keys the cache folder.
constexpr int kGeneratorVersion = 1;

fs::path cacheRoot() {
  if (const char* env = std::getenv("NPUCONV_ZOO_CACHE"); env && *env) return env;
  std::error_code ec;
  fs::path tmp = fs::temp_directory_path(ec);
  if (ec) tmp = "/tmp";
  return tmp / "npuconv-zoo";
}


}  // namespace

uint64_t fnv1a64(std::string_view bytes, uint64_t h) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

fs::path zooDir() {
  if (const char* env = std::getenv("NPUCONV_ZOO_DIR"); env && *env) return env;
#ifdef NPUCONV_SOURCE_DIR
  return fs::path(NPUCONV_SOURCE_DIR) / "testdata" / "zoo";
#else
  if (const char* env = std::getenv("NPUCONV_SOURCE_DIR"); env && *env) return fs::path(env) / "testdata" / "zoo";
  return fs::path("testdata") / "zoo";
#endif
}

std::vector<std::string> zooModelNames() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(zooDir(), ec))
    if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

void fillZooTensor(const std::string& tensorName, const std::string& role, int64_t fanIn, uint64_t seed,
                   std::span<float> out) {
  SplitMix64 rng(fnv1a64(tensorName) ^ (seed * 0x9E3779B97F4A7C15ull));
  auto uniform = [&](float lo, float hi) {
    for (float& v : out) v = rng.uniform(lo, hi);
  };
  if (role == "conv_weight" || role == "linear_weight") {
    // Variance-preserving for a following ReLU (He) on convolutions; plain for linear layers.
    float gain = role == "conv_weight" ? 1.41421356f : 1.0f;
    float b = std::sqrt(3.0f / static_cast<float>(std::max<int64_t>(fanIn, 1))) * gain;
    uniform(-b, b);
  } else if (role == "bn_scale" || role == "bn_var") {
    uniform(0.5f, 1.5f);
  } else if (role == "bn_mean" || role == "bn_bias") {
    uniform(-0.1f, 0.1f);
  } else if (role == "ln_scale") {
    uniform(0.8f, 1.2f);
  } else if (role == "ln_bias" || role == "bias") {
    uniform(-0.05f, 0.05f);
  } else if (role == "embedding") {
    for (float& v : out) v = 0.02f * rng.normalish();
  } else {
    uniform(-0.05f, 0.05f);
  }
}

Expected<fs::path> materializeZooModelOr(const std::string& name) {
  fs::path dir = zooDir();
  fs::path metaPath = dir / (name + ".json");
  auto metaText = readFile(metaPath);
  if (!metaText) return metaText.status();
  nlohmann::json meta = nlohmann::json::parse(*metaText, nullptr, /*allow_exceptions=*/false);
  if (meta.is_discarded() || !meta.is_object()) return Status::invalidModel("{}: not a JSON object", metaPath.string());
  const std::string modelFile = meta.value("model", name + ".onnx");
  const std::string dataFile = meta.value("data_file", "");
  const uint64_t dataBytes = meta.value("data_bytes", uint64_t{0});
  const uint64_t seed = meta.value("seed", uint64_t{1});
  auto modelText = readFile(dir / modelFile);
  if (!modelText) return modelText.status();

  uint64_t key = fnv1a64(*modelText);
  key = fnv1a64(*metaText, key);
  key = fnv1a64(std::to_string(kGeneratorVersion), key);
  fs::path root = cacheRoot();
  fs::path finalDir = root / fmt::format("{}-{:016x}", name, key);
  fs::path finalModel = finalDir / modelFile;
  std::error_code ec;
  if (fs::exists(finalModel, ec)) {
    if (dataFile.empty() || fs::file_size(finalDir / dataFile, ec) == dataBytes) return finalModel;
  }

  fs::create_directories(root, ec);
  if (ec) return Status::io("{}: cannot create cache folder: {}", root.string(), ec.message());
  SplitMix64 tmpRng(static_cast<uint64_t>(::getpid()) ^ reinterpret_cast<uintptr_t>(&ec));
  fs::path tmpDir = root / fmt::format(".tmp-{}-{}-{:08x}", name, ::getpid(), tmpRng.next() & 0xffffffffu);
  fs::remove_all(tmpDir, ec);
  fs::create_directories(tmpDir, ec);
  if (ec) return Status::io("{}: cannot create: {}", tmpDir.string(), ec.message());
  auto cleanup = [&] {
    std::error_code ignore;
    fs::remove_all(tmpDir, ignore);
  };

  {
    std::ofstream out(tmpDir / modelFile, std::ios::binary);
    out.write(modelText->data(), static_cast<std::streamsize>(modelText->size()));
    if (!out) {
      cleanup();
      return Status::io("{}: write failed", (tmpDir / modelFile).string());
    }
  }
  if (!dataFile.empty()) {
    std::vector<float> buf;
    std::ofstream out(tmpDir / dataFile, std::ios::binary);
    uint64_t pos = 0;
    const auto& tensors = meta["tensors"];
    if (!tensors.is_array()) {
      cleanup();
      return Status::invalidModel("{}: no \"tensors\" array", metaPath.string());
    }
    for (const auto& t : tensors) {
      const std::string tname = t.value("name", "");
      const uint64_t offset = t.value("offset", uint64_t{0});
      const uint64_t length = t.value("length", uint64_t{0});
      if (t.value("dtype", "") != "float32" || length % 4 != 0 || offset < pos) {
        cleanup();
        return Status::invalidModel("{}: tensor \"{}\": unsupported dtype or overlapping offset", metaPath.string(),
                                    tname);
      }
      std::string pad(offset - pos, '\0');
      out.write(pad.data(), static_cast<std::streamsize>(pad.size()));
      buf.assign(length / 4, 0.0f);
      fillZooTensor(tname, t.value("role", "other"), t.value("fan_in", int64_t{0}), seed, buf);
      out.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(length));
      pos = offset + length;
    }
    if (pos != dataBytes) {
      cleanup();
      return Status::invalidModel("{}: tensors end at {} bytes, data_bytes says {}", metaPath.string(), pos, dataBytes);
    }
    out.close();
    if (!out) {
      cleanup();
      return Status::io("{}: write failed", (tmpDir / dataFile).string());
    }
  }
  fs::rename(tmpDir, finalDir, ec);
  if (ec) {
    // Another process won the race (the folder exists and is complete), or a stale partial
    // folder is in the way: use the complete one, else replace it.
    cleanup();
    if (fs::exists(finalModel) && (dataFile.empty() || fs::file_size(finalDir / dataFile, ec) == dataBytes))
      return finalModel;
    return Status::io("{}: cannot rename into place: {}", finalDir.string(), ec.message());
  }
  return finalModel;
}

Expected<Tensor> makeSeededInput(const std::string& name, DType dtype, const std::vector<int64_t>& dims,
                                 uint64_t seed) {
  Tensor t(dtype, dims);
  SplitMix64 rng(fnv1a64(name) ^ seed);
  const int64_t n = t.numElements();
  const int64_t seqLen = dims.empty() ? 1 : std::max<int64_t>(dims.back(), 1);
  if (dtype == DType::F32) {
    float* p = t.mutableData<float>();
    for (int64_t i = 0; i < n; ++i) p[i] = rng.uniform(-1.0f, 1.0f);
  } else if (dtype == DType::I64) {
    int64_t* p = t.mutableData<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      int64_t pos = i % seqLen;
      if (name == "attention_mask")
        p[i] = pos < seqLen - 16 ? 1 : 0;
      else if (name == "token_type_ids")
        p[i] = pos < seqLen / 2 ? 0 : 1;
      else
        p[i] = static_cast<int64_t>(rng.next() % 1000);
    }
  } else {
    return Status::unsupported("input \"{}\": no seeded generator for {}", name, dtypeName(dtype));
  }
  return t;
}

Status writeRawInputs(const NamedTensors& inputs, const fs::path& dir) {
  nlohmann::json manifest;
  manifest["inputs"] = nlohmann::json::array();
  for (const auto& [name, t] : inputs) {
    std::string file = name + ".bin";
    std::ofstream out(dir / file, std::ios::binary);
    out.write(static_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.byteSize()));
    if (!out) return Status::io("{}: write failed", (dir / file).string());
    Status npy = writeNpy(dir / (name + ".npy"), t.dtype(), t.dims(), t.raw());
    if (!npy) return npy;
    manifest["inputs"].push_back(
        {{"name", name}, {"dtype", std::string(dtypeName(t.dtype()))}, {"dims", t.dims()}, {"file", file}});
  }
  std::ofstream out(dir / "inputs.json");
  out << manifest.dump(1) << "\n";
  if (!out) return Status::io("{}: write failed", (dir / "inputs.json").string());
  return Status::ok();
}

fs::path materializeZooModel(const std::string& name) {
  auto p = materializeZooModelOr(name);
  if (!p) {
    std::fprintf(stderr, "materializeZooModel(%s): %s\n", name.c_str(), p.status().toString().c_str());
    return {};
  }
  return *p;
}

void bindRandomWeights(Model& m, uint64_t seed) {
  test::SplitMix64 rng(seed);
  for (Value* in : std::vector<Value*>(m.graph->inputs())) {
    if (in->name().empty() || in->name()[0] != 'w') continue;
    std::vector<int64_t> dims = staticDims(*in->type().shape);
    const int64_t n = elementCount(dims);
    const double fanIn = dims.size() > 1 ? double(n / dims[0]) : 4.0;
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = static_cast<float>((rng.uniform() * 2 - 1) * std::sqrt(3.0 / fanIn));
    Value* init = m.graph->addInitializer(in->name() + "_init",
                                          std::make_shared<const TensorData>(TensorData::fromValues<float>(DType::F32, dims, std::span<const float>(v))));
    m.graph->replaceAllUsesWith(in, init);
    m.graph->eraseInput(in);
  }
}

}  // namespace npuconv::test
