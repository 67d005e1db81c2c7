// Alternating timing for the benchmarks that compare competitors inside one process
// (micro_bench, bench_dynamic_layers): every competitor is called once per round, in turn, so a
// load change on a shared machine hits all of them alike, and medians are compared.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

namespace dg::bench {

struct Timing {
  double median, min;  // seconds per call
  int calls;           // calls made, warm-up included
};

inline Timing summarise(std::vector<double> v, int warmup_calls) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v.front(),
          static_cast<int>(n) + warmup_calls};
}

inline double time_once(const std::function<void()>& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Timings of each competitor. Two warm-up calls each (first-touch page faults, allocator cache,
// thread pools), then rounds that call every competitor once, for about `budget_s` seconds in all
// (at least `min_rounds` rounds).
inline std::vector<Timing> time_alternating(const std::vector<std::function<void()>>& competitors,
                                            double budget_s, int min_rounds = 7) {
  double round_s = 0;
  for (const auto& f : competitors) {
    time_once(f);
    round_s += time_once(f);
  }
  const int rounds =
      std::clamp(static_cast<int>(budget_s / std::max(round_s, 1e-9)), min_rounds, 5000);
  std::vector<std::vector<double>> times(competitors.size());
  for (int r = 0; r < rounds; ++r)
    for (size_t i = 0; i < competitors.size(); ++i) times[i].push_back(time_once(competitors[i]));
  std::vector<Timing> result;
  for (auto& t : times) result.push_back(summarise(std::move(t), 2));
  return result;
}

}  // namespace dg::bench
