// The bad-input catalogue: one BadInputCase per line, registered at static-initialisation time
// from the bad_input_cases_*.cpp files (one per family: ops, files), in the style of the gradient
// check registry. test_bad_input_catalogue.cpp runs every case and requires a dg::Error (no other
// exception, no crash, no silent result) whose message contains the case's expected text. A new
// op or loader adds its rows here: its wrong shapes, dtypes, indices and corrupt files.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace dg::test {

struct BadInputCase {
  std::string name;      // shown on failure, e.g. "matmul: inner dims differ"
  std::string expected;  // text the dg::Error's message must contain
  // Makes the bad call. `scratch` is an empty directory the case may write its file into.
  std::function<void(const std::filesystem::path& scratch)> call;
};

std::vector<BadInputCase>& bad_input_registry();

struct RegisterBadInput {
  RegisterBadInput(std::string name, std::string expected,
                   std::function<void(const std::filesystem::path&)> call) {
    bad_input_registry().push_back({std::move(name), std::move(expected), std::move(call)});
  }
};

}  // namespace dg::test
