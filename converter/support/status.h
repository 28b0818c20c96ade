// status.h - recoverable errors (Status, Expected<T>) and invariant checks (NPU_CHECK).
//
// Broken user input (a corrupt model, a missing file, an unsupported op) is a Status that
// travels up to the CLI, which maps its code to an exit code. A broken invariant of our own
// aborts through NPU_CHECK, in release builds too: a silently wrong model is worse than a crash.
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace npuconv {

enum class StatusCode {
  Ok = 0,
  InvalidModel,     // the model file or graph is malformed
  Unsupported,      // valid, but we do not handle it (op, dtype, IR version)
  InvalidArgument,  // a wrong option, shape or input given by the user
  Io,               // a file could not be read or written
  Internal,         // our bug
  AccuracyFailed,   // the run succeeded but a compare/validate threshold does not hold
};

/// Exit codes of the npuconv program, documented in docs/cli.md.
int exitCodeFor(StatusCode code);
const char* statusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }
  template <typename... A>
  static Status invalidModel(fmt::format_string<A...> f, A&&... a) {
    return Status(StatusCode::InvalidModel, fmt::format(f, std::forward<A>(a)...));
  }
  template <typename... A>
  static Status unsupported(fmt::format_string<A...> f, A&&... a) {
    return Status(StatusCode::Unsupported, fmt::format(f, std::forward<A>(a)...));
  }
  template <typename... A>
  static Status invalidArgument(fmt::format_string<A...> f, A&&... a) {
    return Status(StatusCode::InvalidArgument, fmt::format(f, std::forward<A>(a)...));
  }
  template <typename... A>
  static Status io(fmt::format_string<A...> f, A&&... a) {
    return Status(StatusCode::Io, fmt::format(f, std::forward<A>(a)...));
  }
  template <typename... A>
  static Status accuracyFailed(fmt::format_string<A...> f, A&&... a) {
    return Status(StatusCode::AccuracyFailed, fmt::format(f, std::forward<A>(a)...));
  }
  template <typename... A>
  static Status internal(fmt::format_string<A...> f, A&&... a) {
    return Status(StatusCode::Internal, fmt::format(f, std::forward<A>(a)...));
  }

  bool isOk() const { return code_ == StatusCode::Ok; }
  explicit operator bool() const { return isOk(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  /// Prefixes the message with where it happened: `file.onnx: node "x": ...`.
  Status in(const std::string& where) && {
    if (!isOk()) message_ = where + ": " + message_;
    return std::move(*this);
  }
  Status in(const std::string& where) const& {
    Status s = *this;
    return std::move(s).in(where);
  }

  std::string toString() const {
    return isOk() ? "ok" : fmt::format("{}: {}", statusCodeName(code_), message_);
  }

 private:
  StatusCode code_ = StatusCode::Ok;
  std::string message_;
};

/// A value or an error; mirrors the parts of std::expected (C++23) we use.
template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Expected(Status status) : v_(std::move(status)) {  // NOLINT
    if (std::get<Status>(v_).isOk()) v_ = Status::internal("Expected built from an ok Status");
  }
  bool hasValue() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return hasValue(); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Status& status() const& {
    static const Status kOk;
    return hasValue() ? kOk : std::get<Status>(v_);
  }
  Status status() && { return hasValue() ? Status() : std::get<Status>(std::move(v_)); }

 private:
  std::variant<T, Status> v_;
};

[[noreturn]] void checkFailed(const char* file, int line, const char* cond, const std::string& msg);

}  // namespace npuconv

#define NPU_CONCAT_INNER(a, b) a##b
#define NPU_CONCAT(a, b) NPU_CONCAT_INNER(a, b)

/// Returns the Status of `expr` from the enclosing function when it is an error.
#define NPU_TRY(expr)                                  \
  do {                                                 \
    ::npuconv::Status npu_status_ = (expr);            \
    if (!npu_status_.isOk()) return npu_status_;       \
  } while (0)

#define NPU_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.hasValue()) return std::move(tmp).status(); \
  lhs = std::move(tmp).value()

/// `NPU_ASSIGN_OR_RETURN(auto x, f());` binds the value or returns the error.
#define NPU_ASSIGN_OR_RETURN(lhs, expr) \
  NPU_ASSIGN_OR_RETURN_IMPL(NPU_CONCAT(npu_expected_, __LINE__), lhs, expr)

/// An invariant of our own; stays on in release builds.
#define NPU_CHECK(cond, ...)                                                         \
  do {                                                                               \
    if (!(cond)) ::npuconv::checkFailed(__FILE__, __LINE__, #cond, fmt::format(__VA_ARGS__)); \
  } while (0)
