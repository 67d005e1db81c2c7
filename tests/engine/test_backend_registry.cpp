// The backend registry: every entry of the Backend table (engine/backend.h), on every backend in
// backends_under_test (tests/engine/backend_registry.h), against the reference backend
// (engine/reference/), one line per case family in the case files backend_registry_*.cpp, in
// the style of ggml's test-backend-ops.
// Cases vary shapes (including sizes that take the CPU's threaded and blocked paths), dtypes and
// the layouts the table allows an entry (contiguous, transposed, broadcast with stride 0, sliced
// views with an offset, every other element), and cover the backward entries the op layer calls.
// The registry fails when an entry of tests/engine/backend_entries.def has no case, and when
// backend.h declares a virtual function that the .def does not list.
#include <algorithm>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <regex>
#include <set>

#include "tests/engine/backend_registry.h"

using namespace dg;
using namespace dg::test::registry;
using dg::reference::reference_backend;

namespace {

const std::vector<Case>& cases() {
  if (table().empty()) {
    register_elementwise_cases();
    register_product_and_index_cases();
    register_nn_cases();
  }
  return table();
}

// The names of the virtual functions backend.h declares.
std::set<std::string> declared_entries() {
  std::ifstream file(std::string(DG_TEST_DATA_DIR) + "/../engine/backend.h");
  REQUIRE(file.good());
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const std::regex virtual_function(R"(virtual\s+[\w:<>*&\s]+?\b(\w+)\s*\()");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), virtual_function);
       it != std::sregex_iterator(); ++it)
    names.insert((*it)[1]);
  return names;
}

}  // namespace

TEST_CASE("backend registry: every Backend entry is listed and has a case") {
  const std::set<std::string> declared = declared_entries();
  const std::set<std::string> listed(entry_names().begin(), entry_names().end());
  CHECK(declared.size() > 30);  // the parse found the table
  for (const std::string& name : declared) {
    INFO("engine/backend.h declares " << name);
    CHECK(listed.count(name) == 1);
  }
  for (const std::string& name : listed) {
    INFO("backend_entries.def lists " << name);
    CHECK(declared.count(name) == 1);
  }
  std::map<std::string, int> per_entry;
  for (const Case& c : cases()) ++per_entry[entry_name(c.entry)];
  for (const std::string& name : entry_names()) {
    INFO("entry " << name);
    CHECK(per_entry[name] > 0);
  }
}

TEST_CASE("backend registry: every backend matches the reference backend on every case") {
  for (const BackendUnderTest& under_test : backends_under_test()) {
    std::map<std::string, int> taken;
    for (const Case& c : cases()) {
      INFO(under_test.name << " " << entry_name(c.entry) << ": " << c.name);
      const Tensors host = c.inputs();
      // Each side gets its own copy of the inputs (the kernels may update them in place).
      Tensors for_reference, for_backend;
      for (const Tensor& t : host) {
        for_reference.push_back(to_device(t, Device::cpu()));
        for_backend.push_back(to_device(t, under_test.device));
      }
      const Tensors want = c.run(reference_backend(), Device::cpu(), for_reference);
      REQUIRE(!want.empty());
      const Tensors got = c.run(backend(under_test.device), under_test.device, for_backend);
      if (got.empty()) {  // declined: allowed for the optional fast paths only
        CHECK(is_optional(c.entry));
        continue;
      }
      ++taken[entry_name(c.entry)];
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        Tensor g = to_host(got[i]), w = want[i];
        if (c.unordered_dim >= 0 && i == 0) {
          Tensor g_at = to_host(got[1]), w_at = want[1];
          order_by_index(g, g_at, c.unordered_dim);
          order_by_index(w, w_at, c.unordered_dim);
          CHECK(mismatch(g_at, w_at, c.tolerance) == "");
        }
        if (c.unordered_dim >= 0 && i == 1) continue;  // compared with the values
        INFO("output " << i);
        CHECK(mismatch(g, w, c.tolerance) == "");
      }
    }
    for (Entry e : under_test.must_take) {
      INFO(under_test.name << " takes its fast path of " << entry_name(e) << " in some case");
      CHECK(taken[entry_name(e)] > 0);
    }
  }
}
