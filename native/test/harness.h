// A very small test harness for the native unit tests: every test is a function registered with
// TEST(name); main() runs them in order (or those whose names contain one of the command-line
// arguments), prints one line per test and ends with "N passed, M failed". Exit status is non-zero
// when any test failed.
//
//   TEST(geometry_orders_chunks) { CHECK_EQ(g.chunkOffset(0), 4096u); }
//   SHIELDTEST_MAIN()
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "shield_error.h"

namespace shieldtest {

struct Failure : std::exception {
  explicit Failure(std::string m) : message(std::move(m)) {}
  const char* what() const noexcept override { return message.c_str(); }
  std::string message;
};

struct TestCase {
  const char* name;
  void (*fn)();
};

inline std::vector<TestCase>& registry() {
  static std::vector<TestCase> tests;
  return tests;
}

struct Registrar {
  Registrar(const char* name, void (*fn)()) {
    registry().push_back({name, fn});
  }
};

[[noreturn]] inline void fail(const char* file, int line, const std::string& message) {
  const char* base = std::strrchr(file, '/');
  throw Failure(std::string(base ? base + 1 : file) + ":" + std::to_string(line) + ": " + message);
}

template <typename T, typename = void>
struct Printable : std::false_type {};
template <typename T>
struct Printable<T, std::void_t<decltype(std::declval<std::ostream&>() << std::declval<const T&>())>>
    : std::true_type {};

template <typename T>
std::string show(const T& value) {
  if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t>) {
    return std::to_string(static_cast<int>(value));
  } else if constexpr (Printable<T>::value) {
    std::ostringstream out;
    out << value;
    return out.str();
  } else {
    return "<value>";
  }
}

template <typename A, typename B>
void checkEqual(const A& a, const B& b, const char* aText, const char* bText, const char* file, int line) {
  if (!(a == b)) fail(file, line, std::string("CHECK_EQ(") + aText + ", " + bText + "): " + show(a) + " != " + show(b));
}

// Runs f, which must throw a ShieldError with `code`; returns that error for further checks.
template <typename F>
shieldfs::ShieldError expectError(const char* code, F&& f, const char* text, const char* file, int line) {
  try {
    f();
  } catch (const shieldfs::ShieldError& e) {
    if (e.code() != code)
      fail(file, line, std::string(text) + ": expected " + code + " but got " + e.code() + ": " + e.what());
    return e;
  } catch (const Failure&) {
    throw;
  } catch (const std::exception& e) {
    fail(file, line, std::string(text) + ": expected ShieldError " + code + " but got std::exception: " + e.what());
  }
  fail(file, line, std::string(text) + ": expected ShieldError " + code + " but nothing was thrown");
}

inline int runAll(int argc, char** argv) {
  int passed = 0, failed = 0;
  for (const TestCase& test : registry()) {
    bool selected = argc <= 1;
    for (int i = 1; i < argc; i++) selected = selected || std::strstr(test.name, argv[i]) != nullptr;
    if (!selected) continue;
    auto start = std::chrono::steady_clock::now();
    std::string error;
    try {
      test.fn();
    } catch (const Failure& f) {
      error = f.message;
    } catch (const shieldfs::ShieldError& e) {
      error = "unexpected ShieldError " + e.code() + ": " + e.what();
    } catch (const std::exception& e) {
      error = std::string("unexpected exception: ") + e.what();
    } catch (...) {
      error = "unexpected non-standard exception";
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    if (error.empty()) {
      passed++;
      std::printf("ok   %s (%lld ms)\n", test.name, static_cast<long long>(ms));
    } else {
      failed++;
      std::printf("FAIL %s (%lld ms): %s\n", test.name, static_cast<long long>(ms), error.c_str());
    }
    std::fflush(stdout);
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  std::fflush(stdout);
  return failed == 0 ? 0 : 1;
}

}  // namespace shieldtest

#define SHIELDTEST_CAT2(a, b) a##b
#define SHIELDTEST_CAT(a, b) SHIELDTEST_CAT2(a, b)

#define TEST(name)                                                                             \
  static void name();                                                                          \
  static const ::shieldtest::Registrar SHIELDTEST_CAT(name, _registrar)(#name, &name);         \
  static void name()

#define CHECK(cond)                                                                            \
  do {                                                                                         \
    if (!(cond)) ::shieldtest::fail(__FILE__, __LINE__, "CHECK(" #cond ") failed");            \
  } while (0)

#define CHECK_MSG(cond, msg)                                                                   \
  do {                                                                                         \
    if (!(cond)) ::shieldtest::fail(__FILE__, __LINE__, std::string("CHECK(" #cond "): ") + (msg)); \
  } while (0)

#define CHECK_EQ(a, b) ::shieldtest::checkEqual((a), (b), #a, #b, __FILE__, __LINE__)

#define FAIL(msg) ::shieldtest::fail(__FILE__, __LINE__, (msg))

// EXPECT_SHIELD_ERROR("EINTEGRITY", file->read(buf, n, 0)) -> the ShieldError thrown
#define EXPECT_SHIELD_ERROR(code, ...) \
  ::shieldtest::expectError((code), [&]() { __VA_ARGS__; }, #__VA_ARGS__, __FILE__, __LINE__)

#define SHIELDTEST_MAIN() \
  int main(int argc, char** argv) { return ::shieldtest::runAll(argc, argv); }
