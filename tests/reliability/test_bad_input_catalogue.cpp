// Runs the bad-input catalogue (bad_input_registry.h): every malformed call or file must throw a
// dg::Error whose message contains the case's text; anything else (success, another exception
// type, a different message) fails the case by name. Each case gets its own empty directory.
#include <unistd.h>

#include <catch2/catch.hpp>

#include "engine/error.h"
#include "tests/reliability/bad_input_registry.h"

namespace dg::test {

std::vector<BadInputCase>& bad_input_registry() {
  static std::vector<BadInputCase> cases;
  return cases;
}

namespace {

TEST_CASE("bad-input catalogue: every malformed call and file gives its dg::Error") {
  const std::vector<BadInputCase>& cases = bad_input_registry();
  REQUIRE(cases.size() >= 50);
  const std::filesystem::path root = std::filesystem::temp_directory_path() /
                                     ("dg_bad_input_" + std::to_string(::getpid()));
  int index = 0;
  for (const BadInputCase& c : cases) {
    const std::filesystem::path scratch = root / std::to_string(index++);
    std::filesystem::remove_all(scratch);
    std::filesystem::create_directories(scratch);
    std::string outcome;
    bool dg_error = false;
    try {
      c.call(scratch);
      outcome = "returned without an error";
    } catch (const Error& e) {
      outcome = e.what();
      dg_error = true;
    } catch (const std::exception& e) {
      outcome = std::string("threw a non-dg::Error exception: ") + e.what();
    }
    INFO("case: " << c.name << "\nexpected text: " << c.expected << "\ngot: " << outcome);
    CHECK((dg_error && outcome.find(c.expected) != std::string::npos));
  }
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
}

}  // namespace
}  // namespace dg::test
