// test_util.h - shared helpers for the tests.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "converter/ir/model.h"

namespace npuconv::test {

std::filesystem::path sourceDir();
std::filesystem::path testdata(const std::string& relative);
/// A fresh empty folder under the test temp dir, removed at exit.
std::filesystem::path tempDir(const std::string& name);
/// Parses ONNX text syntax; fails the test on error.
Model parseModel(const std::string& text);
/// Runs a shell command; returns its exit code and fills stdout/stderr when given.
int runCommand(const std::string& cmd, std::string* out = nullptr, std::string* err = nullptr);
/// The npuconv binary under test.
std::string npuconvBinary();
/// Debian's ONNX conformance data, or empty when not installed.
std::filesystem::path onnxTestdataRoot();

}  // namespace npuconv::test
