// Statistics over seeds (see statistics.h).
#include "examples/common/statistics.h"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <numeric>

#include "engine/error.h"

namespace dg::experiment {

MeanStd mean_std(const std::vector<double>& values) {
  check(!values.empty(), "mean_std: no values");
  const double n = static_cast<double>(values.size());
  const double mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  double squares = 0.0;
  for (double v : values) squares += (v - mean) * (v - mean);
  return {mean, values.size() > 1 ? std::sqrt(squares / (n - 1)) : 0.0};
}

double student_t95(int64_t dof) {
  check(dof >= 1, "student_t95: {} degrees of freedom (needs at least 1)", dof);
  // t_{0.975, dof} for dof = 1..30 (standard tables); beyond, the 1.96 of the normal plus the
  // first-order correction 2.4 / dof, which is within 0.002 of the exact value from 31 on.
  static constexpr std::array<double, 30> kTable = {
      12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
      2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
      2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (dof <= 30) return kTable[static_cast<size_t>(dof - 1)];
  return 1.95996 + 2.4 / static_cast<double>(dof);
}

MeanInterval mean_ci95(const std::vector<double>& values) {
  const MeanStd s = mean_std(values);
  const auto n = static_cast<int64_t>(values.size());
  if (n < 2) return {s.mean, 0.0};
  return {s.mean, student_t95(n - 1) * s.std / std::sqrt(static_cast<double>(n))};
}

PairedVerdict paired_verdict(const std::vector<double>& differences, ClaimedSign claimed) {
  check(!differences.empty(), "paired_verdict: no paired differences");
  PairedVerdict v;
  v.difference = mean_ci95(differences);
  v.pairs = static_cast<int64_t>(differences.size());
  const bool resolved = v.pairs >= 2 && (v.difference.low() > 0.0 || v.difference.high() < 0.0);
  if (resolved) {
    const bool positive = v.difference.mean > 0.0;
    v.outcome = positive == (claimed == ClaimedSign::positive) ? PairedVerdict::Outcome::reproduced
                                                               : PairedVerdict::Outcome::contradicted;
  }
  return v;
}

std::string PairedVerdict::describe(const std::string& unit, int decimals) const {
  const std::string interval =
      pairs >= 2 ? fmt::format("{:+.{}f} [{:+.{}f}, {:+.{}f}] {} over {} seeds (paired t)",
                               difference.mean, decimals, difference.low(), decimals,
                               difference.high(), decimals, unit, pairs)
                 : fmt::format("{:+.{}f} {} from a single seed (no interval)", difference.mean,
                               decimals, unit);
  switch (outcome) {
    case Outcome::reproduced: return interval + ": reproduced";
    case Outcome::contradicted: return interval + ": contradicted";
    case Outcome::not_resolved: break;
  }
  if (pairs < 2) return interval + ": not resolved";
  return fmt::format("{}: not resolved, smallest effect this run could detect: {:.{}f} {}", interval,
                     difference.half_width, decimals, unit);
}

std::string mean_std_values(const std::vector<double>& values, double scale, int decimals) {
  const MeanStd s = mean_std(values);
  std::vector<std::string> each;
  for (double v : values) each.push_back(fmt::format("{:.{}f}", scale * v, decimals));
  return fmt::format("{:.{}f} +- {:.{}f} ({})", scale * s.mean, decimals, scale * s.std, decimals,
                     fmt::join(each, ", "));
}

void SeedResults::add(const std::string& method, int64_t seed, double value) {
  auto& by_seed = values_[method];
  if (by_seed.empty()) methods_.push_back(method);
  check(by_seed.emplace(seed, value).second, "SeedResults: '{}' seed {} added twice", method, seed);
}

const std::map<int64_t, double>& SeedResults::of(const std::string& method) const {
  const auto found = values_.find(method);
  check(found != values_.end(), "SeedResults: no method '{}' (known: {})", method,
        fmt::join(methods_, ", "));
  return found->second;
}

std::vector<double> SeedResults::values(const std::string& method) const {
  std::vector<double> out;
  for (const auto& [seed, value] : of(method)) out.push_back(value);
  return out;
}

std::vector<int64_t> SeedResults::seeds(const std::string& method) const {
  std::vector<int64_t> out;
  for (const auto& [seed, value] : of(method)) out.push_back(seed);
  return out;
}

std::vector<double> SeedResults::paired_differences(const std::string& method,
                                                    const std::string& reference) const {
  const auto& base = of(reference);
  std::vector<double> out;
  for (const auto& [seed, value] : of(method)) {
    const auto found = base.find(seed);
    if (found != base.end()) out.push_back(value - found->second);
  }
  return out;
}

PairedVerdict SeedResults::paired(const std::string& method, const std::string& reference,
                                  ClaimedSign claimed, double scale) const {
  std::vector<double> differences = paired_differences(method, reference);
  check(!differences.empty(), "SeedResults::paired: '{}' and '{}' share no seed", method,
        reference);
  for (double& d : differences) d *= scale;
  return paired_verdict(differences, claimed);
}

}  // namespace dg::experiment
