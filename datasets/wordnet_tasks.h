// Three text tasks derived from WordNet 3.0's noun synsets (data.noun, see wordnet_graph.h), each
// as train / validation / test TextDatasets, the type the GLUE TSV reader returns:
//
//  A. wordnet-supersense: one gloss -> its supersense (26 classes), read_wordnet_glosses split as
//     wordnet.h describes.
//  B. wordnet-hypernym-pair: two glosses -> 1 when one synset is a direct hypernym (or instance
//     hypernym) of the other, else 0. Positives: every (hyponym, hypernym) link whose two synsets
//     fall in the split. Negatives: one per positive, keeping the positive's hypernym and replacing
//     its hyponym by a synset y of the same split that is neither an ancestor nor a descendant of
//     that hypernym (so not linked to it at any distance) and not already paired with it; every
//     second negative draws y among the synsets with the true hyponym's supersense (hard: same
//     domain as the real hyponym), the others among all synsets of the split. Keeping the
//     hypernym makes each gloss appear as often in negatives as in positives, so how often a gloss
//     occurs is no cue. Then the two texts of every pair are swapped with probability 1/2 (order is
//     no cue) and the examples shuffled. Labels are balanced exactly: a positive whose negative
//     cannot be drawn (100 tries from each pool) is dropped with it.
//  C. wordnet-path-similarity: two glosses -> 10 * path_similarity = 10 / (1 + d), d the NLTK path
//     distance (wordnet_graph.h). Two different synsets are at least 1 link apart, so similarity
//     is at most 1/2; the factor 10 maps that range (0, 1/2] onto (0, 5], STS-B's scale. Pairs are
//     stratified by distance into five equal bins, one per unit of the target: d = 1 (target 5),
//     d = 2 (3.33), d = 3..4 (2.5, 2), d = 5..9 (1.67 .. 1) and d >= 10 (below 1). A pair for one
//     of the first four bins comes from a random walk (a random synset of the split, u links up,
//     then d - u links down, the last step to a synset of the split), kept when its true distance
//     lies in the bin; the last bin takes two random synsets of the split at distance >= 10. A bin
//     asking for q pairs gets up to 100 q + 1000 tries; a bin the split cannot fill is left short
//     (on small files, or when a split asks for more d = 1 pairs than it has links; the real file
//     fills every bin at the default sizes). Pairs are distinct (unordered), texts swapped with
//     probability 1/2, examples shuffled.
//
// Splits: for B and C the synsets are split first, with split_indices over the synsets in file
// order (kWordNetSplitSeed, 80 / 10 / 10 by default: the same partition task A uses), and pairs are
// built within each split only, so no synset of the test split occurs in training (its gloss may:
// data.noun has 355 glosses shared by two or more synsets).
// A link whose two ends fall in different splits is used by no split. Everything is seeded
// (split_seed for the partition, pair_seed for pair sampling) and bit-identical across platforms.
// The max_*_examples caps subsample a split after it is built (B keeps its balance: it caps the
// positives at half).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/wordnet.h"
#include "datasets/wordnet_graph.h"

namespace dg::data {

inline constexpr uint64_t kWordNetPairSeed = 20060102;

struct WordNetTaskOptions {
  std::string path = kWordNetNounPath;
  uint64_t split_seed = kWordNetSplitSeed;
  double train_fraction = 0.8;
  double validation_fraction = 0.1;  // the test split takes the rest
  uint64_t pair_seed = kWordNetPairSeed;
  // Task C: the pairs each split asks for (before the caps below).
  int64_t similarity_train_pairs = 20000;
  int64_t similarity_validation_pairs = 2000;
  int64_t similarity_test_pairs = 2000;
  // At most this many examples per split (0: no cap).
  int64_t max_train_examples = 0;
  int64_t max_validation_examples = 0;
  int64_t max_test_examples = 0;
};

// Synset indices of the graph per split (see above).
struct SynsetSplit {
  std::vector<int32_t> train, validation, test;
};
SynsetSplit wordnet_synset_split(const WordNetGraph& graph, const WordNetTaskOptions& options);

// A pair of synsets (indices into the graph), in the order its texts appear, with its label
// (task B) or target (task C).
struct SynsetPair {
  int32_t first = 0, second = 0;
  int64_t label = -1;
  double value = 0.0;
};
struct SynsetPairSplits {
  std::vector<SynsetPair> train, validation, test;
};

// The pairs of tasks B and C as synset indices, for inspection and tests.
SynsetPairSplits hypernym_pairs(const WordNetGraph& graph, const WordNetTaskOptions& options);
SynsetPairSplits path_similarity_pairs(const WordNetGraph& graph,
                                       const WordNetTaskOptions& options);
// The path-similarity target of a distance: 10 / (1 + d).
double path_similarity_target(int32_t distance);

// The three tasks as text. The graph overloads reuse a graph already read from options.path.
TextSplits wordnet_supersense_task(const WordNetTaskOptions& options = {});
TextSplits wordnet_hypernym_pair_task(const WordNetGraph& graph, const WordNetTaskOptions& options);
TextSplits wordnet_hypernym_pair_task(const WordNetTaskOptions& options = {});
TextSplits wordnet_path_similarity_task(const WordNetGraph& graph,
                                        const WordNetTaskOptions& options);
TextSplits wordnet_path_similarity_task(const WordNetTaskOptions& options = {});

}  // namespace dg::data
