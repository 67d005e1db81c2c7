// Runs every registered float64 gradient check, checks that each case's graph holds the op it is
// filed under, and fails when an op of ops.def or a composite of composite_ops.def has no case.
#include <catch2/catch.hpp>

#include <regex>
#include <set>
#include <string>

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

namespace {

// The ops of every node reachable from `root`'s grad_fn (iterative: graphs can be deep).
std::set<OpId> ops_in_graph(const Tensor& root) {
  std::set<OpId> ops;
  std::set<const Node*> seen;
  std::vector<const Node*> stack;
  if (root.grad_fn()) stack.push_back(root.grad_fn().get());
  while (!stack.empty()) {
    const Node* node = stack.back();
    stack.pop_back();
    if (!seen.insert(node).second) continue;
    ops.insert(node->op());
    for (const Node::Input& in : node->inputs()) {
      if (in.node) stack.push_back(in.node.get());
    }
  }
  return ops;
}

}  // namespace

TEST_CASE("gradcheck: every case's graph holds a node of the op it is filed under") {
  for (const GradcheckCase& c : gradcheck_registry()) {
    const std::vector<Tensor> inputs = c.inputs();
    const Tensor out = c.fn(inputs);
    const std::set<OpId> ops = ops_in_graph(out);
    INFO("case '" << c.name << "' is filed under '" << op_name(c.op)
                  << "' but its graph has no such node");
    CHECK(ops.count(c.op) == 1);
  }
}

TEST_CASE("gradcheck: every composite in composite_ops.def has at least one case") {
  const char* composites[] = {
#define DG_COMPOSITE(name) #name,
#include "engine/ops/composite_ops.def"
#undef DG_COMPOSITE
  };
  for (const char* composite : composites) {
    // A word: not preceded or followed by a letter, digit or underscore.
    const std::regex word(std::string("(^|[^A-Za-z0-9_])") + composite + "($|[^A-Za-z0-9_])");
    bool covered = false;
    for (const GradcheckCase& c : gradcheck_registry()) covered = covered || std::regex_search(c.name, word);
    INFO("composite '" << composite << "' has no gradcheck case naming it");
    CHECK(covered);
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
