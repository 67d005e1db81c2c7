// Turning text into token ids: a Vocabulary (token <-> id, with <pad> = 0 and <unk> = 1), a
// Tokenizer at word or character level that builds its vocabulary from training texts and saves
// itself to a plain text file so it can travel with a trained model, and TokenizedDataset, labelled
// text as a Dataset of variable-length id sequences that the DataLoader pads and masks.
//
// Word level: ASCII letters are lower-cased (when asked), ASCII whitespace separates tokens, and
// each ASCII punctuation character is a token of its own ("don't stop." -> don ' t stop .); every
// other byte, UTF-8 included, belongs to the word it is in. Character level: each UTF-8 code point
// (a malformed byte on its own) is a token, whitespace included. Only ASCII case is folded, so the
// result never depends on the C library's locale.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "datasets/dataset.h"

namespace dg::data {

class Vocabulary {
 public:
  static constexpr int64_t kPadId = 0;
  static constexpr int64_t kUnkId = 1;
  static constexpr std::string_view kPad = "<pad>";
  static constexpr std::string_view kUnk = "<unk>";

  // Just <pad> and <unk>.
  Vocabulary();
  // Tokens in id order: tokens[0] must be "<pad>", tokens[1] "<unk>", and all distinct.
  explicit Vocabulary(std::vector<std::string> tokens);

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  // The id of `token`, or kUnkId when it is not in the vocabulary.
  int64_t id(std::string_view token) const;
  bool contains(std::string_view token) const;
  // The token of `id` (checked).
  const std::string& token(int64_t id) const;
  const std::vector<std::string>& tokens() const { return tokens_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> ids_;
};

enum class TokenizerKind { word, character };

struct TokenizerOptions {
  TokenizerKind kind = TokenizerKind::word;
  bool lowercase = true;
  int64_t min_freq = 1;  // tokens seen fewer times in the training texts map to <unk>
  int64_t max_size = 0;  // cap on the vocabulary size, specials included; 0: no cap
  // Special tokens placed after <pad> and <unk> (ids 2, 3, ...), e.g. "<sep>" to join sentence
  // pairs or "<cls>" for a classification position.
  std::vector<std::string> extra_specials;
};

// The pieces of `text` at word or character level (see the header comment).
std::vector<std::string> split_words(std::string_view text, bool lowercase);
std::vector<std::string> split_chars(std::string_view text, bool lowercase);

class Tokenizer {
 public:
  // A vocabulary from the training texts (only the training split, never validation or test):
  // specials first, then every token seen at least min_freq times, most frequent first, ties in
  // byte order of the token, so the same texts always give the same ids.
  static Tokenizer build(const std::vector<std::string>& training_texts,
                         TokenizerOptions options = {});
  Tokenizer(TokenizerOptions options, Vocabulary vocab);

  std::vector<std::string> split(std::string_view text) const;
  // Token ids; unknown pieces become <unk> (id 1).
  std::vector<int64_t> encode(std::string_view text) const;
  // The tokens of `ids` joined by a space (word level) or concatenated (character level); <pad>
  // ids are skipped. Unknown pieces come back as "<unk>", so decode(encode(t)) equals t only up to
  // case, spacing around punctuation and out-of-vocabulary words.
  std::string decode(std::span<const int64_t> ids) const;

  const Vocabulary& vocab() const { return vocab_; }
  const TokenizerOptions& options() const { return options_; }
  int64_t pad_id() const { return Vocabulary::kPadId; }

  // A plain text file: a "dyngrad-tokenizer 1" line, "key value" lines for the options, then one
  // token per line in id order (backslash, newline, carriage return and tab escaped as \\ \n \r
  // \t).
  void save(const std::string& path) const;
  static Tokenizer load(const std::string& path);

 private:
  TokenizerOptions options_;
  Vocabulary vocab_;
};

struct TokenizedOptions {
  // Keep at most this many ids per example (0: no limit); the end is cut.
  int64_t max_length = 0;
  // Placed between the texts of a multi-text example (sentence pairs); must be in the vocabulary.
  std::string separator = "<sep>";
  // When not empty, prepended to every sequence (e.g. "<cls>"); must be in the vocabulary.
  std::string prefix;
};

// A TextDataset encoded once, up front, as a Dataset. get(i) gives input i64 [L_i] and target a
// 0-dim i64 class id (f32 value for regression). Batches are padded with <pad> to the longest
// sequence of the batch, with mask [B, Lmax] (true at real tokens) and lengths [B]. An empty text
// gives an empty sequence (an all-false mask row).
class TokenizedDataset : public Dataset {
 public:
  TokenizedDataset(const TextDataset& text, const Tokenizer& tokenizer,
                   TokenizedOptions options = {});

  int64_t size() const override { return static_cast<int64_t>(sequences_.size()); }
  Example get(int64_t index) const override;
  Batch get_batch(std::span<const int64_t> indices) const override;
  CollateOptions collate_options() const override {
    return {true, static_cast<double>(Vocabulary::kPadId), -100.0};
  }

  const std::vector<std::vector<int64_t>>& sequences() const { return sequences_; }
  const std::vector<std::string>& class_names() const { return class_names_; }
  int64_t num_classes() const { return static_cast<int64_t>(class_names_.size()); }
  bool regression() const { return regression_; }

 private:
  std::vector<std::vector<int64_t>> sequences_;
  std::vector<int64_t> labels_;
  std::vector<double> values_;
  std::vector<std::string> class_names_;
  bool regression_ = false;
};

}  // namespace dg::data
