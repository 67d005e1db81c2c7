// Building the WordNet tasks (see wordnet_tasks.h): the synset split, hypernym pairs with their
// negatives, distance-stratified similarity pairs, and their conversion to TextDatasets.
#include "datasets/wordnet_tasks.h"

#include <algorithm>
#include <array>
#include <set>
#include <unordered_set>

#include "engine/error.h"
#include "engine/random.h"

namespace dg::data {
namespace {

constexpr int kTriesPerPool = 100;
constexpr int64_t kHypernymTaskStream = 0, kSimilarityTaskStream = 16;

template <class T>
void shuffle(std::vector<T>& v, Generator& gen) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[gen.next_below(i)]);
}

template <class T>
const T& pick(const std::vector<T>& v, Generator& gen) {
  return v[gen.next_below(v.size())];
}

// Unordered pairs already used, as (min, max).
using PairSet = std::set<std::pair<int32_t, int32_t>>;
bool claim(PairSet& used, int32_t a, int32_t b) {
  return used.insert({std::min(a, b), std::max(a, b)}).second;
}

int64_t cap_of(const WordNetTaskOptions& o, int part) {
  const int64_t cap = part == 0   ? o.max_train_examples
                      : part == 1 ? o.max_validation_examples
                                  : o.max_test_examples;
  check(cap >= 0, "wordnet_tasks: max examples per split must be >= 0, got {}", cap);
  return cap;
}

std::vector<SynsetPair>& part_of(SynsetPairSplits& s, int part) {
  return part == 0 ? s.train : part == 1 ? s.validation : s.test;
}

const std::vector<int32_t>& part_of(const SynsetSplit& s, int part) {
  return part == 0 ? s.train : part == 1 ? s.validation : s.test;
}

// Which split each synset belongs to.
std::vector<int8_t> membership(const WordNetGraph& graph, const SynsetSplit& split) {
  std::vector<int8_t> in(graph.size(), -1);
  for (int part = 0; part < 3; ++part)
    for (int32_t s : part_of(split, part)) in[s] = static_cast<int8_t>(part);
  return in;
}

// Swaps each pair's texts with probability 1/2 and shuffles the pairs.
void randomise_order(std::vector<SynsetPair>& pairs, Generator& gen) {
  for (SynsetPair& p : pairs)
    if (gen.next_below(2)) std::swap(p.first, p.second);
  shuffle(pairs, gen);
}

// ---- task B

std::vector<SynsetPair> hypernym_pairs_in(const WordNetGraph& graph,
                                          const std::vector<int32_t>& members,
                                          const std::vector<int8_t>& in, int part, int64_t cap,
                                          Generator& gen) {
  std::vector<SynsetPair> positives;
  for (int32_t s : members)
    for (int32_t p : graph.parents(s))
      if (in[p] == part) positives.push_back({s, p, 1, 0.0});
  shuffle(positives, gen);
  if (cap > 0 && static_cast<int64_t>(positives.size()) > cap / 2) positives.resize(cap / 2);

  std::array<std::vector<int32_t>, 32> by_lex_file;
  for (int32_t s : members) by_lex_file[graph.synsets[s].lex_file].push_back(s);

  std::vector<SynsetPair> pairs;
  PairSet used;
  for (const SynsetPair& pos : positives) claim(used, pos.first, pos.second);
  for (size_t i = 0; i < positives.size(); ++i) {
    const int32_t hyponym = positives[i].first, hypernym = positives[i].second;
    std::unordered_set<int32_t> above;  // the hypernym and its ancestors
    for (const auto& [node, depth] : graph.ancestor_distances(hypernym)) above.insert(node);
    const auto valid = [&](int32_t y) {
      if (above.count(y) || graph.is_ancestor(hypernym, y)) return false;
      return claim(used, y, hypernym);
    };
    std::vector<const std::vector<int32_t>*> pools;
    if (i % 2 == 1) pools.push_back(&by_lex_file[graph.synsets[hyponym].lex_file]);
    pools.push_back(&members);
    int32_t negative = -1;
    for (const auto* pool : pools)
      for (int t = 0; t < kTriesPerPool && negative < 0; ++t)
        if (const int32_t y = pick(*pool, gen); valid(y)) negative = y;
    if (negative < 0) continue;  // drop the positive too, keeping the labels balanced
    pairs.push_back(positives[i]);
    pairs.push_back({negative, hypernym, 0, 0.0});
  }
  randomise_order(pairs, gen);
  return pairs;
}

// ---- task C

struct DistanceBin {
  int32_t lo, hi;  // inclusive; hi < 0: no upper bound
};
constexpr std::array<DistanceBin, 5> kBins = {DistanceBin{1, 1}, DistanceBin{2, 2},
                                              DistanceBin{3, 4}, DistanceBin{5, 9},
                                              DistanceBin{10, -1}};

bool in_bin(int32_t d, const DistanceBin& bin) {
  return d >= bin.lo && (bin.hi < 0 || d <= bin.hi);
}

// One candidate pair for a bounded bin: u links up from a, then d - u links down, the last one to
// a synset of the split. -1 when the walk cannot be made.
int32_t walk(const WordNetGraph& graph, int32_t a, int32_t d, const std::vector<int8_t>& in,
             int part, Generator& gen) {
  const int32_t up = static_cast<int32_t>(gen.next_below(d + 1)), down = d - up;
  int32_t node = a;
  for (int32_t step = 0; step < up; ++step) {
    const std::vector<int32_t> parents = graph.parents(node);
    if (parents.empty()) return -1;
    node = pick(parents, gen);
  }
  for (int32_t step = 0; step < down; ++step) {
    const std::vector<int32_t>& children = graph.hyponyms[node];
    if (step + 1 < down) {
      if (children.empty()) return -1;
      node = pick(children, gen);
    } else {
      std::vector<int32_t> in_split;
      for (int32_t c : children)
        if (in[c] == part) in_split.push_back(c);
      if (in_split.empty()) return -1;
      node = pick(in_split, gen);
    }
  }
  return in[node] == part ? node : -1;
}

std::vector<SynsetPair> similarity_pairs_in(const WordNetGraph& graph,
                                            const std::vector<int32_t>& members,
                                            const std::vector<int8_t>& in, int part, int64_t wanted,
                                            Generator& gen) {
  std::vector<SynsetPair> pairs;
  if (members.size() < 2 || wanted == 0) return pairs;
  PairSet used;
  for (size_t b = 0; b < kBins.size(); ++b) {
    const DistanceBin& bin = kBins[b];
    const int64_t quota = wanted / 5 + (static_cast<int64_t>(b) < wanted % 5 ? 1 : 0);
    const int64_t tries = 100 * quota + 1000;
    int64_t filled = 0;
    for (int64_t t = 0; t < tries && filled < quota; ++t) {
      const int32_t a = pick(members, gen);
      int32_t other;
      if (bin.hi < 0) {
        other = pick(members, gen);
      } else {
        const int32_t d = bin.lo + static_cast<int32_t>(gen.next_below(bin.hi - bin.lo + 1));
        other = walk(graph, a, d, in, part, gen);
      }
      if (other < 0 || other == a) continue;
      const std::optional<int32_t> distance = graph.path_distance(a, other);
      if (!distance || !in_bin(*distance, bin) || !claim(used, a, other)) continue;
      pairs.push_back({a, other, -1, path_similarity_target(*distance)});
      ++filled;
    }
  }
  randomise_order(pairs, gen);
  return pairs;
}

TextDataset to_text(const WordNetGraph& graph, const std::vector<SynsetPair>& pairs,
                    bool regression) {
  TextDataset data;
  data.regression = regression;
  if (!regression) data.class_names = {"not_hypernym", "hypernym"};
  data.examples.reserve(pairs.size());
  for (const SynsetPair& p : pairs) {
    TextExample e;
    e.texts = {graph.synsets[p.first].gloss, graph.synsets[p.second].gloss};
    e.label = p.label;
    e.value = p.value;
    data.examples.push_back(std::move(e));
  }
  return data;
}

TextSplits to_text(const WordNetGraph& graph, const SynsetPairSplits& pairs, bool regression) {
  return {to_text(graph, pairs.train, regression), to_text(graph, pairs.validation, regression),
          to_text(graph, pairs.test, regression)};
}

void apply_cap(TextDataset& data, int64_t cap) {
  if (cap > 0 && data.size() > cap) data.examples.resize(cap);
}

}  // namespace

double path_similarity_target(int32_t distance) { return 10.0 / (1.0 + distance); }

SynsetSplit wordnet_synset_split(const WordNetGraph& graph, const WordNetTaskOptions& options) {
  const auto parts = split_indices(graph.size(),
                                   {options.train_fraction, options.validation_fraction,
                                    1.0 - options.train_fraction - options.validation_fraction},
                                   options.split_seed);
  SynsetSplit split;
  for (int part = 0; part < 3; ++part) {
    auto& out = part == 0 ? split.train : part == 1 ? split.validation : split.test;
    out.assign(parts[part].begin(), parts[part].end());
  }
  return split;
}

SynsetPairSplits hypernym_pairs(const WordNetGraph& graph, const WordNetTaskOptions& options) {
  const SynsetSplit split = wordnet_synset_split(graph, options);
  const std::vector<int8_t> in = membership(graph, split);
  SynsetPairSplits out;
  for (int part = 0; part < 3; ++part) {
    Generator gen(options.pair_seed + kHypernymTaskStream + part);
    part_of(out, part) =
        hypernym_pairs_in(graph, part_of(split, part), in, part, cap_of(options, part), gen);
  }
  return out;
}

SynsetPairSplits path_similarity_pairs(const WordNetGraph& graph,
                                       const WordNetTaskOptions& options) {
  const SynsetSplit split = wordnet_synset_split(graph, options);
  const std::vector<int8_t> in = membership(graph, split);
  const std::array<int64_t, 3> wanted = {options.similarity_train_pairs,
                                         options.similarity_validation_pairs,
                                         options.similarity_test_pairs};
  SynsetPairSplits out;
  for (int part = 0; part < 3; ++part) {
    check(wanted[part] >= 0, "wordnet_tasks: similarity pairs per split must be >= 0, got {}",
          wanted[part]);
    Generator gen(options.pair_seed + kSimilarityTaskStream + part);
    std::vector<SynsetPair> pairs =
        similarity_pairs_in(graph, part_of(split, part), in, part, wanted[part], gen);
    const int64_t cap = cap_of(options, part);
    if (cap > 0 && static_cast<int64_t>(pairs.size()) > cap) pairs.resize(cap);
    part_of(out, part) = std::move(pairs);
  }
  return out;
}

TextSplits wordnet_supersense_task(const WordNetTaskOptions& options) {
  WordNetOptions gloss_options;
  gloss_options.path = options.path;
  gloss_options.split_seed = options.split_seed;
  gloss_options.train_fraction = options.train_fraction;
  gloss_options.validation_fraction = options.validation_fraction;
  TextSplits splits = wordnet_gloss_splits(gloss_options);
  // Each split is already in the seeded permutation's order, so its first examples are a random
  // subsample.
  apply_cap(splits.train, cap_of(options, 0));
  apply_cap(splits.validation, cap_of(options, 1));
  apply_cap(splits.test, cap_of(options, 2));
  return splits;
}

TextSplits wordnet_hypernym_pair_task(const WordNetGraph& graph,
                                      const WordNetTaskOptions& options) {
  return to_text(graph, hypernym_pairs(graph, options), false);
}

TextSplits wordnet_hypernym_pair_task(const WordNetTaskOptions& options) {
  return wordnet_hypernym_pair_task(read_wordnet_graph(options.path), options);
}

TextSplits wordnet_path_similarity_task(const WordNetGraph& graph,
                                        const WordNetTaskOptions& options) {
  return to_text(graph, path_similarity_pairs(graph, options), true);
}

TextSplits wordnet_path_similarity_task(const WordNetTaskOptions& options) {
  return wordnet_path_similarity_task(read_wordnet_graph(options.path), options);
}

}  // namespace dg::data
