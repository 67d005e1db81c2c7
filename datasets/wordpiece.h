// BERT's WordPiece tokenizer, read from a pretrained model's vocab.txt, giving the token ids,
// token type ids and attention masks a BERT encoder takes. It reproduces Hugging Face's reference
// BertTokenizer (transformers 4.40, the slow pure-Python one) exactly; the committed golden data
// tests/reference/wordpiece_golden.txt holds its output for awkward sentences and sentence pairs
// on the all-MiniLM-L6-v2 vocabulary, and tests/datasets/test_wordpiece.cpp replays it. (The
// word/character Tokenizer of datasets/tokenizer.h is for models trained from scratch; this one is
// for pretrained checkpoints, whose vocabulary is fixed.)
//
// tokenize(text):
//   1. occurrences of the special tokens ([CLS], [SEP], [PAD], [UNK], and [MASK] when the
//      vocabulary has it) in the text are tokens of their own, as in HF;
//   2. when lower_case, everything else is lower-cased one character at a time (HF does this before
//      basic tokenization, which is why a final capital sigma becomes "σ");
//   3. basic tokenization of each stretch between special tokens (datasets/bert_basic_tokenizer.h);
//   4. WordPiece on each word: a word of more than max_input_chars_per_word code points is [UNK];
//      otherwise the longest vocabulary entry that starts the word is taken, then the longest
//      "##"-prefixed entry that continues it, and so on; a word that cannot be covered this way
//      is [UNK] as a whole.
// encode: [CLS] a [SEP] (b [SEP]), token type 0 for the first segment and its [SEP], 1 for the
// second; with max_length > 0 the ids are cut to fit (HF's default "longest_first": one token at a
// time from the end of the longer text, the second text on ties) and padded on the right with
// [PAD], type 0 and mask 0.
//
// vocab.txt: one token per line, the id is the line number from 0 (lines end in "\n", "\r\n" or
// "\r", as Python's universal newlines read them; a UTF-8 byte-order mark is dropped). Rejected
// with a dg::Error naming the file: a file that is missing, empty, over 64 MiB, not UTF-8, has a
// line over 1024 bytes or a token on two lines, or lacks [CLS], [SEP], [PAD] or [UNK] (HF would
// give duplicates the last id; that is almost always a broken file).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "datasets/bert_basic_tokenizer.h"
#include "engine/tensor.h"

namespace dg::data {

struct WordPieceOptions {
  bool lower_case = true;    // an uncased model (bert-base-uncased, all-MiniLM-L6-v2)
  bool tokenize_cjk = true;  // each CJK ideograph a word
  int64_t max_input_chars_per_word = 100;
};

enum class Padding {
  none,        // each sequence as long as it is
  longest,     // a batch padded to its longest sequence (a single sequence is not padded)
  max_length,  // padded to EncodeOptions::max_length
};

struct EncodeOptions {
  // With max_length > 0, sequences longer than this are truncated (specials included); it must
  // then be at least 3 ([CLS], one token, [SEP]; below that HF leaves the input uncut).
  int64_t max_length = 0;
  Padding padding = Padding::longest;
};

// One encoded sequence: three vectors of the same length.
struct WordPieceEncoding {
  std::vector<int64_t> input_ids;
  std::vector<int64_t> token_type_ids;
  std::vector<int64_t> attention_mask;  // 1 at real tokens (specials included), 0 at padding
};

// A batch as a BERT encoder takes it: i64 tensors [B, L].
struct WordPieceBatch {
  Tensor input_ids;
  Tensor token_type_ids;
  Tensor attention_mask;
};

class WordPieceTokenizer {
 public:
  static constexpr int64_t kMaxVocabFileBytes = int64_t{64} << 20;
  static constexpr int64_t kMaxTokenBytes = 1024;

  // Reads `vocab_path` (see the header comment for what is rejected).
  static WordPieceTokenizer load(const std::string& vocab_path, WordPieceOptions options = {});
  // From tokens in id order; `source` names them in errors (a path, "vocabulary").
  WordPieceTokenizer(std::vector<std::string> tokens, WordPieceOptions options = {},
                     std::string source = "vocabulary");

  // Steps 1-4 of the header comment: the WordPiece tokens of `text` (UTF-8; other bytes are a
  // dg::Error).
  std::vector<std::string> tokenize(std::string_view text) const;
  // Step 4 alone on one word (no whitespace in it): its pieces, or {"[UNK]"}.
  std::vector<std::string> wordpiece(std::string_view word) const;

  std::vector<int64_t> convert_tokens_to_ids(std::span<const std::string> tokens) const;
  // The id of `token`, or the [UNK] id.
  int64_t token_to_id(std::string_view token) const;
  const std::string& id_to_token(int64_t id) const;  // checked

  WordPieceEncoding encode(std::string_view text, const EncodeOptions& options = {}) const;
  WordPieceEncoding encode(std::string_view text_a, std::string_view text_b,
                           const EncodeOptions& options = {}) const;
  // Padding::none needs every sequence to come out the same length (a tensor is rectangular).
  WordPieceBatch encode_batch(std::span<const std::string> texts,
                              const EncodeOptions& options = {}) const;
  WordPieceBatch encode_batch(std::span<const std::pair<std::string, std::string>> pairs,
                              const EncodeOptions& options = {}) const;

  // For reading ids back (HF's decode): the tokens joined by spaces, "##" continuations glued to
  // the piece before, and HF's clean-up of spaces before . ? ! , and English contractions. Not the
  // inverse of encode: case, accents, spacing and unknown words are lost.
  std::string decode(std::span<const int64_t> ids, bool skip_special_tokens = false) const;

  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  int64_t cls_id() const { return cls_id_; }
  int64_t sep_id() const { return sep_id_; }
  int64_t pad_id() const { return pad_id_; }
  int64_t unk_id() const { return unk_id_; }
  int64_t mask_id() const { return mask_id_; }  // -1 when the vocabulary has no [MASK]
  bool is_special(int64_t id) const;
  const WordPieceOptions& options() const { return options_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // The word-level tokens of `text` with the special tokens split out (steps 1-3).
  void tokenize_into(std::string_view text, std::vector<std::string>& out) const;
  WordPieceEncoding build(std::vector<int64_t> a, const std::vector<int64_t>* b,
                          const EncodeOptions& options) const;
  WordPieceBatch to_batch(std::vector<WordPieceEncoding> rows, const EncodeOptions& options) const;

  WordPieceOptions options_;
  std::string source_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> ids_;
  std::vector<std::string> specials_;  // the special tokens the text is split at
  int64_t cls_id_ = -1, sep_id_ = -1, pad_id_ = -1, unk_id_ = -1, mask_id_ = -1;
};

}  // namespace dg::data
