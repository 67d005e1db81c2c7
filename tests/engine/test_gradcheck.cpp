// Runs every registered float64 gradient check, and fails when an op in ops.def has none.
#include <catch2/catch.hpp>

#include <set>

#include "tests/engine/gradcheck_registry.h"

namespace dg::test {

std::vector<GradcheckCase>& gradcheck_registry() {
  static std::vector<GradcheckCase> cases;
  return cases;
}

TEST_CASE("gradcheck: every registered case matches central differences in float64") {
  const auto& cases = gradcheck_registry();
  REQUIRE(!cases.empty());
  for (const GradcheckCase& c : cases) {
    DYNAMIC_SECTION(op_name(c.op) << ": " << c.name) {
      GradcheckResult r = gradcheck(c.fn, c.inputs(), c.options);
      INFO(r.message);
      CHECK(r.ok);
      if (c.second_order) {
        GradcheckResult r2 = gradgradcheck(c.fn, c.inputs(), c.options);
        INFO("second order: " << r2.message);
        CHECK(r2.ok);
      }
    }
  }
}

TEST_CASE("gradcheck: every differentiable op in ops.def has at least one case") {
  std::set<OpId> covered;
  for (const GradcheckCase& c : gradcheck_registry()) covered.insert(c.op);
  for (OpId op : all_differentiable_ops()) {
    INFO("op '" << op_name(op) << "' has no gradcheck case in tests/engine/gradcheck_cases_*.cpp");
    CHECK(covered.count(op) == 1);
  }
}

}  // namespace dg::test
