// The source model's SHA-256 in the device blob's provenance (docs/blob-format.md, PROV) and in
// the convert report: what sha256sum prints for the .onnx file, and sha256sum's own lines for
// its external data files, which `sha256sum -c` accepts in the model's folder. `npuconv
// inspect` shows them as text and JSON.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "formats/onnx/onnx_reader.h"
#include "pipeline/calib_stage.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

int npuconv(const std::string& args, std::string* out, std::string* err) {
  return test::runCommand(fmt::format("'{}' {}", test::npuconvBinary(), args), out, err);
}

/// What sha256sum prints for `file` (its first 64 characters: the digest).
std::string sha256sum(const fs::path& file) {
  std::string out, err;
  EXPECT_EQ(test::runCommand(fmt::format("sha256sum '{}'", file.string()), &out, &err), 0) << err;
  return out.substr(0, 64);
}

struct Converted {
  nlohmann::json provenance, input;  // inspect --json's provenance, report.json's input
  std::string text;                  // inspect's text
};

/// `npuconv convert --precision fp16 --dim DIM=1` (the blob needs static shapes).
Converted convertFp16(const fs::path& model, const std::string& dim, const fs::path& outDir) {
  Converted c;
  std::string out, err;
  EXPECT_EQ(npuconv(fmt::format("convert '{}' --precision fp16 --dim {}=1 -o '{}' -q", model.string(), dim, outDir.string()),
                    &out, &err), 0) << err;
  EXPECT_EQ(npuconv(fmt::format("inspect '{}' --json", (outDir / "model.npub").string()), &out, &err), 0) << err;
  c.provenance = nlohmann::json::parse(out)["provenance"];
  EXPECT_EQ(npuconv(fmt::format("inspect '{}'", (outDir / "model.npub").string()), &c.text, &err), 0) << err;
  c.input = nlohmann::json::parse(test::slurp(outDir / "report.json"))["input"];
  test::expectMatchesReportSchema(outDir / "report.json");
  return c;
}

TEST(SourceSha256, BlobAndReportCarryTheModelFilesDigest) {
  const fs::path model = test::testdata("models/tiny_cnn.onnx");
  const fs::path dir = test::tempDir("source_sha256");
  // Computed once with sha256sum when the file was committed; the second check recomputes it,
  // so a changed test file shows as such rather than as a wrong digest.
  const std::string want = "889cc2ccda9995a3511067a5e33d8c537f928b3cd016595ca63af03912fbd923";
  ASSERT_EQ(sha256sum(model), want) << "testdata/models/tiny_cnn.onnx changed: update the digest";
  const Converted c = convertFp16(model, "N", dir / "out");
  EXPECT_EQ(c.provenance.value("source_model_sha256", ""), want) << c.provenance.dump();
  EXPECT_FALSE(c.provenance.contains("source_external_data_sha256")) << "no external data";
  EXPECT_EQ(c.provenance.value("source_model_key", ""), c.input.value("key", "")) << "the content key is still there";
  EXPECT_EQ(c.input.value("sha256", ""), want);
  EXPECT_FALSE(c.input.contains("external_data_sha256"));
  EXPECT_NE(c.text.find("  source_model_sha256: " + want + "\n"), std::string::npos) << c.text;
}

TEST(SourceSha256, ExternalDataFilesAreListedAsSha256sumLines) {
  const fs::path src = test::testdata("models/external");
  const fs::path dir = test::tempDir("source_sha256_external");
  const std::string onnxSha = "569f3956b9e5a3b48ab299895753fffb71d350e3471860eae0f232e353559f20";
  const std::string weightsSha = "923497e936580457ebc2632e7b0014fbea7e4bd06668923412ea7324bfe49494";
  ASSERT_EQ(sha256sum(src / "tiny_mlp.onnx"), onnxSha) << "testdata changed: update the digests";
  ASSERT_EQ(sha256sum(src / "tiny_mlp.weights"), weightsSha);
  const Converted c = convertFp16(src / "tiny_mlp.onnx", "batch", dir / "out");
  EXPECT_EQ(c.provenance.value("source_model_sha256", ""), onnxSha) << "the .onnx file alone";
  const std::string lines = c.provenance.value("source_external_data_sha256", "");
  EXPECT_EQ(lines, weightsSha + "  tiny_mlp.weights") << c.provenance.dump();
  // What a user does with it: sha256sum -c in the model's folder.
  std::ofstream(dir / "external.sha256") << lines << "\n";
  std::string out, err;
  EXPECT_EQ(test::runCommand(fmt::format("cd '{}' && sha256sum -c '{}'", src.string(), (dir / "external.sha256").string()),
                             &out, &err), 0) << out << err;
  EXPECT_EQ(c.input.value("sha256", ""), onnxSha);
  EXPECT_EQ(c.input["external_data_sha256"], nlohmann::json({{"tiny_mlp.weights", weightsSha}}));
  EXPECT_NE(c.text.find("  source_external_data_sha256: " + weightsSha + "  tiny_mlp.weights\n"), std::string::npos)
      << c.text;
}

TEST(SourceSha256, SeveralExternalFilesInByteOrderOfTheirLocations) {
  // modelIdentity hashes what the reader found; the model's parse is not needed here.
  const fs::path dir = test::tempDir("source_sha256_identity");
  fs::create_directories(dir / "w");
  std::ofstream(dir / "m.onnx", std::ios::binary) << "model bytes";
  std::ofstream(dir / "w" / "b.bin", std::ios::binary) << "bbb";
  std::ofstream(dir / "W.bin", std::ios::binary) << "WWW";
  OnnxFileInfo info;
  info.externalFiles = {{"w/b.bin", 3}, {"W.bin", 3}};
  auto id = modelIdentity(dir / "m.onnx", info);
  ASSERT_TRUE(id.hasValue()) << id.status().toString();
  EXPECT_EQ(id->sha256, sha256sum(dir / "m.onnx"));
  ASSERT_EQ(id->externalSha256.size(), 2u);
  EXPECT_EQ(id->externalSha256.begin()->first, "W.bin") << "'W' (0x57) sorts before 'w' (0x77)";
  EXPECT_EQ(id->externalSha256.at("W.bin"), sha256sum(dir / "W.bin"));
  EXPECT_EQ(id->externalSha256.at("w/b.bin"), sha256sum(dir / "w" / "b.bin"));
  info.externalFiles["gone.bin"] = 1;
  auto missing = modelIdentity(dir / "m.onnx", info);
  ASSERT_FALSE(missing.hasValue());
  EXPECT_NE(missing.status().message().find("gone.bin"), std::string::npos) << missing.status().message();
}

}  // namespace
}  // namespace npuconv
