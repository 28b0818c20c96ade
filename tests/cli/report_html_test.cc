// The report page (`npuconv report`, `convert --report-html`): it holds the model's figures
// (layer names, per-layer SQNR, validation cosine of both artifacts), escapes the names (a node
// named <script> stays text), refers to nothing outside itself, is written again by an
// up-to-date re-run, and Debian's chromium, headless, renders a DOM that shows those figures.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>

#include "converter/ir/model.h"
#include "formats/onnx/onnx_writer.h"
#include "pipeline/html_text.h"
#include "pipeline/report_html.h"
#include "tests/cli/two_layer_model.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

constexpr const char* kScriptName = "<script>alert(\"x\")</script>";

/// The two-layer model of tests/cli/two_layer_model.h with hostile node names: the second MatMul
/// is `<script>alert("x")</script>`, the Tanh `a&b "c" 'd'`.
fs::path writeHostileModel(const fs::path& dir) {
  Model m = test::parseModel(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[1,16] x) => (float[1,8] y) {
      W1 = Constant<value = float[16,16] {0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, 0.8, 0.9, -1.0, 0.11, 0.12, 0.13, -0.14, 0.15, 0.16,
        0.2, 0.1, 0.3, -0.4, 0.5, 0.6, -0.7, 0.8, 0.9, 0.1, -0.11, 0.12, 0.13, 0.14, -0.15, 0.16,
        0.3, -0.2, 0.1, 0.4, 0.5, 0.6, 0.7, -0.8, 0.9, 0.1, 0.11, -0.12, 0.13, 0.14, 0.15, -0.16,
        -0.4, 0.2, 0.3, 0.1, 0.5, 0.6, 0.7, 0.8, -0.9, 0.1, 0.11, 0.12, -0.13, 0.14, 0.15, 0.16,
        0.5, -0.2, 0.3, 0.4, 0.1, 0.6, 0.7, 0.8, 0.9, -0.1, 0.11, 0.12, 0.13, -0.14, 0.15, 0.16,
        0.6, 0.2, -0.3, 0.4, 0.5, 0.1, 0.7, 0.8, 0.9, 0.1, -0.11, 0.12, 0.13, 0.14, -0.15, 0.16,
        0.7, 0.2, 0.3, -0.4, 0.5, 0.6, 0.1, 0.8, 0.9, 0.1, 0.11, -0.12, 0.13, 0.14, 0.15, -0.16,
        -0.8, 0.2, 0.3, 0.4, -0.5, 0.6, 0.7, 0.1, 0.9, 0.1, 0.11, 0.12, -0.13, 0.14, 0.15, 0.16,
        0.9, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8, 0.1, 0.1, 0.11, 0.12, 0.13, -0.14, 0.15, 0.16,
        0.1, 0.2, -0.3, 0.4, 0.5, 0.6, -0.7, 0.8, 0.9, 0.1, 0.11, 0.12, 0.13, 0.14, -0.15, 0.16,
        0.11, 0.2, 0.3, -0.4, 0.5, 0.6, 0.7, -0.8, 0.9, 0.1, 0.1, 0.12, 0.13, 0.14, 0.15, -0.16,
        0.12, 0.2, 0.3, 0.4, -0.5, 0.6, 0.7, 0.8, -0.9, 0.1, 0.11, 0.1, 0.13, 0.14, 0.15, 0.16,
        0.13, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8, 0.9, -0.1, 0.11, 0.12, 0.1, 0.14, 0.15, 0.16,
        0.14, 0.2, -0.3, 0.4, 0.5, 0.6, -0.7, 0.8, 0.9, 0.1, -0.11, 0.12, 0.13, 0.1, 0.15, 0.16,
        0.15, 0.2, 0.3, -0.4, 0.5, 0.6, 0.7, -0.8, 0.9, 0.1, 0.11, -0.12, 0.13, 0.14, 0.1, 0.16,
        0.16, 0.2, 0.3, 0.4, -0.5, 0.6, 0.7, 0.8, -0.9, 0.1, 0.11, 0.12, -0.13, 0.14, 0.15, 0.1}>()
      W2 = Constant<value = float[16,8] {0.3, -0.1, 0.2, 0.05, -0.2, 0.1, 0.15, -0.05, 0.1, 0.2, -0.3, 0.05, 0.2, -0.1, 0.05, 0.1,
        -0.2, 0.1, 0.3, -0.05, 0.1, 0.2, -0.15, 0.05, 0.05, -0.3, 0.1, 0.2, -0.1, 0.05, 0.2, 0.1,
        0.3, 0.1, -0.2, 0.05, 0.2, 0.1, -0.15, 0.05, -0.1, 0.2, 0.3, -0.05, 0.2, 0.1, 0.05, -0.1,
        0.2, -0.1, 0.3, 0.05, -0.2, 0.1, 0.15, 0.05, 0.1, 0.2, -0.3, 0.05, 0.2, -0.1, 0.05, 0.1,
        -0.3, 0.1, 0.2, 0.05, 0.2, -0.1, 0.15, 0.05, 0.1, -0.2, 0.3, 0.05, -0.2, 0.1, 0.05, 0.1,
        0.3, -0.1, 0.2, 0.05, 0.2, 0.1, -0.15, 0.05, 0.1, 0.2, 0.3, -0.05, 0.2, 0.1, 0.05, -0.1,
        -0.3, 0.1, 0.2, 0.05, 0.2, 0.1, 0.15, -0.05, 0.1, -0.2, 0.3, 0.05, 0.2, -0.1, 0.05, 0.1,
        0.3, 0.1, -0.2, 0.05, -0.2, 0.1, 0.15, 0.05, 0.1, 0.2, -0.3, 0.05, 0.2, 0.1, -0.05, 0.1}>()
      m = MatMul(x, W1)
      h = Relu(m)
      n = MatMul(h, W2)
      y = Tanh(n)
    })");
  const char* names[] = {"first_matmul", "first_relu", kScriptName, "a&b \"c\" 'd'"};
  size_t i = 0;
  for (Node* n : m.graph->nodes())
    if (!n->is("Constant")) {
      n->setName(names[i]);
      n->setProvenance({names[i++]});
    }
  fs::path p = dir / "hostile.onnx";
  EXPECT_TRUE(writeOnnx(m, p).hasValue());
  return p;
}

struct Converted {
  fs::path dir, out, page;
  nlohmann::json report;
};

/// int8 with validation of both artifacts and the page written by convert.
Converted convertWithPage(const std::string& name) {
  Converted c;
  c.dir = test::tempDir(name);
  fs::path model = writeHostileModel(c.dir), x = test::writeTwoLayerInputs(c.dir);
  c.out = c.dir / "out";
  c.page = c.dir / "page.html";
  std::string err;
  EXPECT_EQ(test::runNpuconv(fmt::format("convert '{}' -o '{}' --precision int8 --calib '{}' --validate-inputs '{}' --report-html '{}'",
                                model.string(), c.out.string(), x.string(), x.string(), c.page.string()), nullptr,
                    &err),
            0)
      << err;
  c.report = nlohmann::json::parse(test::slurp(c.out / "report.json"));
  return c;
}

/// Text as a browser serializes a text node: only & < > escaped.
std::string domText(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : std::string(1, c);
  return o;
}

/// The figures the page must show, as the page writes them (`dom`: as chromium serializes them).
std::vector<std::string> expectedFigures(const nlohmann::json& r, bool dom = false) {
  std::vector<std::string> f;
  for (const auto& [name, layer] : r["layer_error"]["layers"].items()) {
    f.push_back(dom ? domText(name) : escapeHtml(name));
    f.push_back(fixedText(layer["sqnr_db"].get<double>(), 2) + " dB");
  }
  for (const char* artifact : {"model.onnx", "model.npub"})
    f.push_back(fixedText(r["validation"][artifact]["aggregate"]["outputs"]["y"]["cosine"].get<double>(), 6));
  f.push_back(fmt::format("{:.0f} B", r["device_blob"]["memory_plan"]["arena_bytes"].get<double>()));
  return f;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

TEST(ReportHtml, ConvertWritesAPageWithTheFiguresAndEscapedNames) {
  Converted c = convertWithPage("report_html_convert");
  ASSERT_TRUE(c.report.contains("layer_error")) << c.report.dump();
  ASSERT_TRUE(c.report["layer_error"]["layers"].contains(kScriptName)) << c.report["layer_error"].dump();
  const std::string page = test::slurp(c.page);
  ASSERT_FALSE(page.empty());
  for (const std::string& f : expectedFigures(c.report)) EXPECT_NE(page.find(f), std::string::npos) << f;
  EXPECT_NE(page.find("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(page.find("a&amp;b &quot;c&quot; &#39;d&#39;"), std::string::npos);
  // Self-contained and inert: no script at all, nothing fetched.
  const std::string l = lower(page);
  for (const char* bad : {"<script", "http://", "https://", "src=", "<link", "@import", "url("})
    EXPECT_EQ(l.find(bad), std::string::npos) << bad;
  for (const char* section : {"id=\"pipeline\"", "id=\"layers\"", "id=\"placement\"", "id=\"calibration\"", "id=\"memory\"",
                              "id=\"validation\""})
    EXPECT_NE(page.find(section), std::string::npos) << section;

  // Up to date: nothing converted, the page is written again from OUTDIR's report.
  fs::path again = c.dir / "again.html";
  std::string err;
  ASSERT_EQ(test::runNpuconv(fmt::format("convert '{}' -o '{}' --precision int8 --calib '{}' --validate-inputs '{}' --report-html '{}'",
                                (c.dir / "hostile.onnx").string(), c.out.string(), (c.dir / "x.npy").string(),
                                (c.dir / "x.npy").string(), again.string()), nullptr,
                    &err),
            0)
      << err;
  EXPECT_NE(err.find("is up to date"), std::string::npos) << err;
  EXPECT_EQ(test::slurp(again), page);
  // `npuconv report` writes the same page from the same report.
  fs::path third = c.dir / "third.html";
  ASSERT_EQ(test::runNpuconv(fmt::format("report '{}' -o '{}'", (c.out / "report.json").string(), third.string()), nullptr, &err), 0) << err;
  EXPECT_EQ(test::slurp(third), page);
  for (const auto& e : fs::directory_iterator(c.dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << "a temporary file was left: " << e.path();
}

TEST(ReportHtml, ErrorsNameTheFileWithTheDocumentedExitCode) {
  fs::path dir = test::tempDir("report_html_errors");
  std::string err;
  EXPECT_EQ(test::runNpuconv(fmt::format("report '{}' -o '{}'", (dir / "nope.json").string(), (dir / "a.html").string()), nullptr, &err), 5);
  EXPECT_NE(err.find("nope.json"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  std::ofstream(dir / "bad.json") << "{not json";
  EXPECT_EQ(test::runNpuconv(fmt::format("report '{}' -o '{}'", (dir / "bad.json").string(), (dir / "a.html").string()), nullptr, &err), 2);
  EXPECT_NE(err.find("bad.json"), std::string::npos) << err;
  std::ofstream(dir / "other.json") << "[1, 2]";
  EXPECT_EQ(test::runNpuconv(fmt::format("report '{}' -o '{}'", (dir / "other.json").string(), (dir / "a.html").string()), nullptr, &err), 2);
  EXPECT_NE(err.find("not an npuconv convert report"), std::string::npos) << err;
  std::ofstream(dir / "min.json") << R"({"npuconv_version": "0.1.0"})";
  EXPECT_EQ(test::runNpuconv(fmt::format("report '{}' -o '{}'", (dir / "min.json").string(), (dir / "no/dir/a.html").string()), nullptr, &err), 5);
  EXPECT_NE(err.find("a.html"), std::string::npos) << err;
  EXPECT_EQ(test::runNpuconv(fmt::format("report '{}'", (dir / "min.json").string()), nullptr, &err), 2) << "-o is required";
  EXPECT_FALSE(fs::exists(dir / "a.html"));
  // A minimal report renders, each missing section with its one-line note.
  ASSERT_EQ(test::runNpuconv(fmt::format("report '{}' -o '{}'", (dir / "min.json").string(), (dir / "a.html").string()), nullptr, &err), 0) << err;
  const std::string page = test::slurp(dir / "a.html");
  size_t notes = 0;
  for (size_t at = 0; (at = page.find("Not in this report", at)) != std::string::npos; ++at) ++notes;
  EXPECT_GE(notes, 6u) << page;
}

TEST(ReportHtml, AnyJsonRendersWithoutThrowing) {
  // Fields of unexpected types are left out, never fatal.
  for (const char* text : {R"({})", R"({"passes": 3, "layer_error": {"layers": [1, "x", {"sqnr_db": "high"}]}})",
                           R"({"placement": {"nodes": [null, 1, {"device": 5}], "ops": "x"}, "validation": {"a": 1, "b": {"sets": 2}}})",
                           R"({"device_blob": {"written": false}, "warnings": ["plain", 3, {"kind": null}], "fallback": {"requested_validation": []}})",
                           R"({"layer_error": {"layers": {"a\u0000b\u001b": {"sqnr_db": -5, "cosine": null}}}, "options": [1]})"}) {
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(text);
    std::string page;
    EXPECT_NO_THROW(page = renderReportHtml(j, "r.json")) << text;
    EXPECT_NE(page.find("</html>"), std::string::npos) << text;
    EXPECT_EQ(page.find('\x1b'), std::string::npos) << "control characters are replaced";
  }
  EXPECT_EQ(escapeHtml("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
  EXPECT_EQ(escapeHtml(std::string("ok\xff\x01", 4)), "ok\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(escapeHtml("caf\xC3\xA9"), "caf\xC3\xA9");
}

TEST(ReportHtml, HeadlessChromiumRendersTheFigures) {
  if (!fs::exists("/usr/bin/chromium")) GTEST_SKIP() << "/usr/bin/chromium absent (scripts/setup.sh installs Debian's chromium)";
  Converted c = convertWithPage("report_html_chromium");
  std::string dom, err;
  // timeout: a browser that hangs must not hang the suite.
  const int rc = test::runCommand(fmt::format("HOME='{}' timeout 120 /usr/bin/chromium --headless --disable-gpu --no-sandbox "
                                              "--dump-dom 'file://{}'",
                                              c.dir.string(), fs::absolute(c.page).string()),
                                  &dom, &err);
  ASSERT_EQ(rc, 0) << err;
  ASSERT_NE(dom.find("</html>"), std::string::npos) << dom.substr(0, 500);
  // The DOM chromium built holds the figures as text (names serialized escaped again).
  for (const std::string& f : expectedFigures(c.report, true)) EXPECT_NE(dom.find(f), std::string::npos) << f;
  EXPECT_NE(dom.find("&lt;script&gt;alert(\"x\")&lt;/script&gt;"), std::string::npos) << "the hostile name stays text";
  EXPECT_EQ(lower(dom).find("<script"), std::string::npos) << "no script element was created";
  size_t charts = 0;
  for (size_t at = 0; (at = dom.find("<svg", at)) != std::string::npos; ++at) ++charts;
  EXPECT_GE(charts, 5u) << "pipeline, layers, placement, memory and validation charts";
  EXPECT_NE(dom.find("<rect"), std::string::npos);
}

}  // namespace
}  // namespace npuconv
