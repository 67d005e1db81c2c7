// The WordNet noun hierarchy: every synset of data.noun with its lemmas, gloss, supersense and
// hypernym links, and the path similarity NLTK computes between two noun synsets. The tasks of
// datasets/wordnet_tasks.h draw their sentence pairs from it.
//
// A synset line (wndb(5)) reads
//   synset_offset lex_filenum ss_type w_cnt (word lex_id){w_cnt} p_cnt
//       (pointer_symbol synset_offset pos source/target){p_cnt} | gloss
// with an 8-digit decimal offset, a 2-digit decimal lexicographer file number (03-28 for nouns),
// ss_type 'n', w_cnt as 2 hexadecimal digits, lex_id 1 hexadecimal digit, p_cnt 3 decimal digits,
// and each pointer's source/target 4 hexadecimal digits. Of the pointers only hypernym '@' and
// instance hypernym '@i' to other nouns are kept; every other pointer is checked for form and
// skipped (hyponyms are the inverse of the two kept links, so '~' and '~i' add nothing). Lemmas are
// kept as the file spells them (underscores for spaces, original case). The license header lines
// start with two spaces and are skipped, as are blank lines.
//
// Errors: a line that does not have this form (a count that disagrees with the fields, a field of
// the wrong width or alphabet, a missing or empty gloss, a non-noun lexicographer file) is a
// dg::Error naming the file and line; so are a synset offset given twice and a kept pointer to an
// offset that no line of the file defines (naming the line that holds the pointer). Memory is
// the file plus, per synset, its own fields: counts are checked against the line's fields before
// anything is sized by them.
//
// Path similarity (NLTK's Synset.path_similarity for nouns of WordNet 3.0): the distance of
// synsets a and b is the smallest d_a(c) + d_b(c) over their common hypernym-closure ancestors c,
// where d_s(c) is the fewest hypernym or instance-hypernym links from s up to c (breadth-first;
// a synset is its own ancestor at distance 0), and similarity = 1 / (1 + distance). That is the
// shortest path that goes up from one synset and down to the other; a path that zig-zags through
// a shared hyponym does not count. NLTK adds a simulated root only for verbs (and for nouns of
// WordNet 1.6, Synset._needs_root); for nouns of 3.0 two synsets without a common ancestor have no
// similarity (NLTK returns None, here std::nullopt). In WordNet 3.0 every noun synset reaches
// entity (00001740), so that case arises only in other files. Cycles, which WordNet does not
// have, cannot make the search loop: each synset is visited once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "datasets/wordnet.h"

namespace dg::data {

struct WordNetSynset {
  uint32_t offset = 0;              // synset_offset, the line's byte offset in data.noun
  int lex_file = 0;                 // lexicographer file number, 3 (noun.Tops) .. 28 (noun.time)
  std::vector<std::string> lemmas;  // the words of the synset, as spelled in the file
  std::string gloss;                // definition and examples, the text after '|', trimmed
  std::vector<int32_t> hypernyms;   // synset indices of the '@' targets
  std::vector<int32_t> instance_hypernyms;  // synset indices of the '@i' targets
};

// Member functions taking synset indices reject an index outside [0, size()) with a dg::Error.
class WordNetGraph {
 public:
  std::vector<WordNetSynset> synsets;          // in file order
  std::vector<std::vector<int32_t>> hyponyms;  // inverse of hypernyms and instance hypernyms

  int32_t size() const { return static_cast<int32_t>(synsets.size()); }
  // The index of the synset with this offset, or -1.
  int32_t index_of(uint32_t offset) const;
  // The synset's direct hypernyms and instance hypernyms, in that order.
  std::vector<int32_t> parents(int32_t s) const;
  // Every ancestor of s (s itself included, at 0) with its fewest links up from s, in
  // breadth-first order.
  std::vector<std::pair<int32_t, int32_t>> ancestor_distances(int32_t s) const;
  // True when `ancestor` is reached from s by one or more links up (not s itself).
  bool is_ancestor(int32_t ancestor, int32_t s) const;
  // True when one of a, b is a direct hypernym or instance hypernym of the other.
  bool directly_linked(int32_t a, int32_t b) const;
  // NLTK's shortest_path_distance and path_similarity for nouns (see above); nullopt when a and b
  // have no common ancestor.
  std::optional<int32_t> path_distance(int32_t a, int32_t b) const;
  std::optional<double> path_similarity(int32_t a, int32_t b) const;

  void build_index();  // fills the offset index from `synsets` (done by read_wordnet_graph)

 private:
  void check_index(int32_t s) const;  // a dg::Error for an index outside [0, size())
  std::unordered_map<uint32_t, int32_t> index_;
};

WordNetGraph read_wordnet_graph(const std::string& path = kWordNetNounPath);

}  // namespace dg::data
