// The statistics the experiment programs report over seeds: mean and standard deviation, the 95%
// confidence interval of a mean (Student's t, as a paper reports it for a handful of seeds), and
// results kept by method name and seed, so that a table, a figure or a claim names the method it
// is about instead of counting positions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dg::experiment {

struct MeanStd {
  double mean = 0.0, std = 0.0;  // std with n - 1 (0 for a single value)
};
MeanStd mean_std(const std::vector<double>& values);

// The two-sided 95% quantile of Student's t distribution with `dof` degrees of freedom (>= 1).
double student_t95(int64_t dof);

struct MeanInterval {
  double mean = 0.0;
  double half_width = 0.0;  // mean +- half_width is the 95% interval; 0 for a single value
  double low() const { return mean - half_width; }
  double high() const { return mean + half_width; }
};
// mean +- t95(n - 1) * std / sqrt(n).
MeanInterval mean_ci95(const std::vector<double>& values);

// A paired comparison over seeds (the two methods ran with the same seed and the same data order):
// the mean of the per-seed differences (method - reference) with its 95% t interval, and the
// verdict worded from that interval alone:
//   "reproduced"    the interval excludes zero in the direction the paper claims;
//   "contradicted"  it excludes zero the other way;
//   "not resolved"  it includes zero (or there is a single pair); the half-width is then the
//                   smallest effect this run could have told from zero.
enum class ClaimedSign { positive, negative };
struct PairedVerdict {
  MeanInterval difference;
  int64_t pairs = 0;
  enum class Outcome { reproduced, contradicted, not_resolved } outcome = Outcome::not_resolved;
  // e.g. "+0.84 [+0.21, +1.47] points over 5 seeds (paired t): reproduced" or
  // "... : not resolved, smallest effect this run could detect: 1.20 points".
  std::string describe(const std::string& unit, int decimals = 2) const;
};
// `differences` must not be empty.
PairedVerdict paired_verdict(const std::vector<double>& differences, ClaimedSign claimed);

// "80.57 +- 0.90 (79.61, 80.13, 81.97)": mean +- std, then every value (by increasing seed), each
// multiplied by `scale` (100 turns a fraction into percent points).
std::string mean_std_values(const std::vector<double>& values, double scale = 1.0,
                            int decimals = 2);

// One number per (method, seed), in the order the methods were first added. Adding a method and
// seed twice is an error; a method never added is an error naming the known ones.
class SeedResults {
 public:
  void add(const std::string& method, int64_t seed, double value);

  const std::vector<std::string>& methods() const { return methods_; }
  bool contains(const std::string& method) const { return values_.count(method) > 0; }
  // The values of `method`, by increasing seed.
  std::vector<double> values(const std::string& method) const;
  std::vector<int64_t> seeds(const std::string& method) const;
  MeanStd stats(const std::string& method) const { return mean_std(values(method)); }
  double mean(const std::string& method) const { return stats(method).mean; }
  // method - reference at each seed both have (for paired comparisons), by increasing seed.
  std::vector<double> paired_differences(const std::string& method,
                                         const std::string& reference) const;
  // The paired verdict of `method` against `reference` over their common seeds, the differences
  // multiplied by `scale` (100: points from fractions). Throws when they share no seed.
  PairedVerdict paired(const std::string& method, const std::string& reference,
                       ClaimedSign claimed, double scale = 1.0) const;
  // mean_std_values of `method`.
  std::string summary(const std::string& method, double scale = 1.0, int decimals = 2) const {
    return mean_std_values(values(method), scale, decimals);
  }

 private:
  const std::map<int64_t, double>& of(const std::string& method) const;

  std::vector<std::string> methods_;
  std::map<std::string, std::map<int64_t, double>> values_;
};

}  // namespace dg::experiment
