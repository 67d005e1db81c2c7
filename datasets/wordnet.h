// WordNet gloss classification, the project's default real text task: each noun synset of
// WordNet 3.0 (the file data.noun of the Debian package wordnet-base) is one example, its gloss
// (definition and usage examples, the text after '|') the input text, and its lexicographer file,
// i.e. its supersense such as noun.artifact or noun.person, the label.
//
// Classes. WordNet 3.0's data.noun uses all 26 noun lexicographer files, numbers 03 (noun.Tops)
// to 28 (noun.time); lex_filenum is the second field of a synset line, a two-digit decimal number
// (wndb(5), lexnames(5)). noun.Tops holds only the 51 unique beginners (entity, abstraction, ...),
// so one may drop it to get the 25 supersenses usually cited. Class ids are contiguous and follow
// the lexicographer file order: id = lex_filenum - 3 with noun.Tops (26 classes, the default), or
// lex_filenum - 4 without it (25 classes; noun.Tops synsets are then skipped).
//
// Split. Examples keep data.noun's order (by synset offset). The default split is 80% / 10% / 10%
// (train / validation / test) of one seeded permutation (split_indices with kWordNetSplitSeed):
// sizes floor(0.8 n), floor(0.1 n) and the rest. With the Debian file and noun.Tops: 82115
// examples, split 65692 / 8211 / 8212. The permutation comes from dg::Generator, which is
// bit-identical on every platform, so the split is too.
//
// The links between synsets (hypernyms, lemmas) are read by wordnet_graph.h, and the tasks built
// on them by wordnet_tasks.h.
#pragma once

#include <array>
#include <string>

#include "datasets/dataset.h"

namespace dg::data {

inline constexpr const char* kWordNetNounPath = "/usr/share/wordnet/data.noun";
inline constexpr const char* kWordNetDebianPackage = "wordnet-base";
inline constexpr uint64_t kWordNetSplitSeed =
    20060101;  // WordNet 3.0's year; any fixed value works
// The noun lexicographer file names, index = lex_filenum - 3 (lexnames(5)).
extern const std::array<const char*, 26> kNounSupersenses;

struct WordNetOptions {
  std::string path = kWordNetNounPath;
  bool include_tops = true;  // keep noun.Tops as a class (26 classes) or skip it (25)
  uint64_t split_seed = kWordNetSplitSeed;
  double train_fraction = 0.8;
  double validation_fraction = 0.1;  // the test split takes the rest
};

// Every synset of the file, in file order, as (gloss, class id). A missing file is an error naming
// the Debian package and the path; a malformed synset line, or bytes that are not UTF-8, are an
// error naming the line number (a UTF-8 byte-order mark at the start is dropped).
TextDataset read_wordnet_glosses(const WordNetOptions& options = {});

struct TextSplits {
  TextDataset train, validation, test;
};
// read_wordnet_glosses, split as described above.
TextSplits wordnet_gloss_splits(const WordNetOptions& options = {});

bool wordnet_available(const std::string& path = kWordNetNounPath);

}  // namespace dg::data
