// text_samples.cc - calibration samples from a UTF-8 text file, one sample per line, read line by
// line: tokenized to [CLS] ... [SEP], padded to a static sequence dim (or left at their true
// length when the dim is dynamic), bound to input_ids / attention_mask / token_type_ids.
#include "formats/text/text_samples.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>

#include "formats/text/tokenizer_loader.h"

namespace npuconv {

namespace fs = std::filesystem;

namespace {

enum class Role { Ids, Mask, Types };

// The names exporters give these inputs (HF, TF Hub, ONNX Runtime's BERT samples).
std::optional<Role> roleOf(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (name.size() > 2 && name.ends_with(":0")) name.resize(name.size() - 2);  // TF tensor names
  static const std::array<std::pair<const char*, Role>, 14> kNames = {{
      {"input_ids", Role::Ids},           {"input_id", Role::Ids},
      {"input_word_ids", Role::Ids},      {"token_ids", Role::Ids},
      {"ids", Role::Ids},                 {"attention_mask", Role::Mask},
      {"input_mask", Role::Mask},         {"mask", Role::Mask},
      {"token_type_ids", Role::Types},    {"segment_ids", Role::Types},
      {"input_type_ids", Role::Types},    {"token_type", Role::Types},
      {"type_ids", Role::Types},          {"segment_id", Role::Types},
  }};
  for (const auto& [n, r] : kNames)
    if (name == n) return r;
  return std::nullopt;
}

struct Binding {
  std::string name;
  Role role;
  DType dtype;
};

class TextSampleStream final : public SampleStream {
 public:
  TextSampleStream(fs::path file, BertTokenizer tok, std::vector<Binding> bindings,
                   int64_t seqLen, bool pad, size_t skip, size_t count)
      : file_(std::move(file)),
        name_(file_.string()),
        tok_(std::move(tok)),
        bindings_(std::move(bindings)),
        seqLen_(seqLen),
        pad_(pad),
        skip_(skip),
        count_(count) {}

  Status open() {
    in_ = std::ifstream(file_, std::ios::binary);
    if (!in_) return Status::io("{}: cannot open", name_);
    line_ = 0;
    yielded_ = 0;
    return Status::ok();
  }

  Expected<std::optional<NamedTensors>> next() override {
    if (yielded_ >= count_) return std::optional<NamedTensors>();
    std::string text;
    while (true) {
      if (!std::getline(in_, text))
        return Status::io("{}:{}: file ended early (changed while reading?)", name_, line_ + 1);
      ++line_;
      if (line_ > skip_) break;
    }
    if (line_ == 1 && text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.empty())
      return Status::invalidArgument("{}:{}: empty line (one sample per line)", name_, line_);
    if (auto bad = firstInvalidUtf8(text))
      return Status::invalidArgument("{}:{}: invalid UTF-8 at byte {}", name_, line_, *bad + 1);
    std::vector<int64_t> ids = tok_.encode(text, static_cast<size_t>(seqLen_));
    int64_t len = pad_ ? seqLen_ : static_cast<int64_t>(ids.size());
    NamedTensors sample;
    for (const Binding& b : bindings_) {
      Tensor t(b.dtype, {1, len});  // zero-filled: mask and types of padding stay 0
      for (int64_t i = 0; i < len; ++i) {
        bool real = i < static_cast<int64_t>(ids.size());
        int64_t v = b.role == Role::Types ? 0
                    : b.role == Role::Mask ? (real ? 1 : 0)
                    : real                 ? ids[static_cast<size_t>(i)]
                                           : tok_.padId();
        if (b.dtype == DType::I64)
          t.mutableData<int64_t>()[i] = v;
        else
          t.mutableData<int32_t>()[i] = static_cast<int32_t>(v);
      }
      sample.emplace(b.name, std::move(t));
    }
    ++yielded_;
    return std::optional<NamedTensors>(std::move(sample));
  }

  size_t size() const override { return count_; }

  Status rewind() override { return open(); }

  std::string describe() const override {
    return fmt::format("{} (text, {} input{}, {} samples, {} {}, tokenizer {})",
                       file_.filename().string(), bindings_.size(),
                       bindings_.size() == 1 ? "" : "s", count_,
                       pad_ ? "padded to" : "true length, at most", seqLen_, tok_.describe());
  }

 private:
  fs::path file_;
  std::string name_;
  BertTokenizer tok_;
  std::vector<Binding> bindings_;
  int64_t seqLen_;
  bool pad_;
  size_t skip_, count_;
  std::ifstream in_;
  size_t line_ = 0, yielded_ = 0;
};

// Lines in the file (a last line without '\n' counts), read in chunks: the file is not loaded.
Expected<size_t> countLines(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::io("{}: cannot open", file.string());
  std::vector<char> buf(1 << 16);
  size_t lines = 0;
  char last = '\n';
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    auto n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    lines += static_cast<size_t>(std::count(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n), '\n'));
    last = buf[n - 1];
  }
  if (in.bad()) return Status::io("{}: read error", file.string());
  return lines + (last != '\n' ? 1 : 0);
}

}  // namespace

Expected<std::unique_ptr<SampleStream>> openTextSamples(const CalibDataOptions& opt,
                                                        const std::vector<ModelInputSpec>& inputs) {
  const std::string file = opt.textFile.string();
  // Bind the model's inputs first: a model the data cannot feed fails before any reading.
  std::vector<Binding> bindings;
  int64_t modelSeq = 0;
  std::string modelSeqInput;
  bool haveIds = false;
  for (const ModelInputSpec& in : inputs) {
    auto role = roleOf(in.name);
    if (!role)
      return Status::invalidArgument(
          "{}: model input \"{}\" is none of input_ids, attention_mask, token_type_ids (or "
          "their aliases input_mask, segment_ids, ...); text data cannot fill it",
          file, in.name);
    if (in.dtype != DType::I64 && in.dtype != DType::I32)
      return Status::invalidArgument("{}: model input \"{}\" is {}; token inputs must be int64 "
                                     "or int32", file, in.name, dtypeName(in.dtype));
    if (in.dims.size() != 2)
      return Status::invalidArgument("{}: model input \"{}\" has rank {}; text samples are "
                                     "[batch, sequence]", file, in.name, in.dims.size());
    if (in.dims[0] > 1)
      return Status::invalidArgument("{}: model input \"{}\" has batch {}; text samples have "
                                     "batch 1 (freeze it with --input-shape)", file, in.name,
                                     in.dims[0]);
    if (in.dims[1] > 0) {
      if (modelSeq > 0 && in.dims[1] != modelSeq)
        return Status::invalidArgument("{}: model inputs \"{}\" and \"{}\" disagree on the "
                                       "sequence dim ({} vs {})", file, modelSeqInput, in.name,
                                       modelSeq, in.dims[1]);
      if (modelSeq == 0) modelSeqInput = in.name;
      modelSeq = in.dims[1];
    }
    haveIds = haveIds || *role == Role::Ids;
    bindings.push_back({in.name, *role, in.dtype});
  }
  if (!haveIds)
    return Status::invalidArgument("{}: the model has no input_ids input to feed text to", file);
  if (opt.seqLen < 0)
    return Status::invalidArgument("{}: --seq-len {}: must be positive", file, opt.seqLen);
  if (opt.seqLen > 0 && modelSeq > 0 && opt.seqLen != modelSeq)
    return Status::invalidArgument("{}: --seq-len {} but model input \"{}\" has sequence dim {}",
                                   file, opt.seqLen, modelSeqInput, modelSeq);
  int64_t seqLen = opt.seqLen > 0 ? opt.seqLen : modelSeq;
  if (seqLen == 0)
    return Status::invalidArgument("{}: --seq-len is needed: the model's sequence dim is "
                                   "dynamic", file);
  if (seqLen < 2)
    return Status::invalidArgument("{}: sequence length {}: [CLS] and [SEP] need 2", file, seqLen);
  bool pad = modelSeq > 0 || opt.padToSeqLen;

  NPU_ASSIGN_OR_RETURN(BertTokenizer tok, loadTokenizer(opt.tokenizer, opt.modelDir));
  NPU_ASSIGN_OR_RETURN(size_t lines, countLines(opt.textFile));
  if (opt.maxSamples < 0 || opt.skipSamples < 0)
    return Status::invalidArgument("{}: negative sample count or skip", file);
  auto skip = static_cast<size_t>(opt.skipSamples);
  size_t count = lines > skip ? lines - skip : 0;
  if (opt.maxSamples > 0) count = std::min(count, static_cast<size_t>(opt.maxSamples));
  if (count == 0)
    return Status::invalidArgument("{}: no samples ({} lines, {} skipped)", file, lines, skip);
  auto stream = std::make_unique<TextSampleStream>(opt.textFile, std::move(tok),
                                                   std::move(bindings), seqLen, pad, skip, count);
  NPU_TRY(stream->open());
  return std::unique_ptr<SampleStream>(std::move(stream));
}

}  // namespace npuconv
