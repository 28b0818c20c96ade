// utf8.h - UTF-8 validity, and error text made safe to print: ONNX names, tokenizer vocabs and
// calibration text are UTF-8 by definition, and errors quote them from files nobody checked.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace npuconv {

/// The length (1..4) of the valid UTF-8 sequence that starts `s`, or 0 when it does not start
/// with one (overlong forms, surrogates and code points past U+10FFFF are invalid).
size_t utf8SequenceLength(std::string_view s);
/// Whether `text` is valid UTF-8; else the byte offset of the first bad sequence.
std::optional<size_t> firstInvalidUtf8(std::string_view text);

/// `message` made safe to print as one line of a terminal: newlines and tabs become spaces,
/// other control characters (escape sequences, C1 controls) and bytes that are not valid UTF-8
/// become `\xNN`. The CLI prints every error through it.
std::string oneLineMessage(std::string_view message);

}  // namespace npuconv
