// WordPiece (see wordpiece.h): the vocab.txt reader, special-token splitting, greedy
// longest-match-first pieces, [CLS]/[SEP] framing with longest_first truncation and padding, and
// HF-style decoding.
#include "datasets/wordpiece.h"

#include <algorithm>
#include <filesystem>

#include "datasets/io.h"
#include "engine/error.h"

namespace dg::data {
namespace {

constexpr std::string_view kCls = "[CLS]", kSep = "[SEP]", kPad = "[PAD]", kUnk = "[UNK]",
                           kMask = "[MASK]";

// Python's str.replace(from, to): every non-overlapping occurrence, left to right.
std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size())
    out.append(s, pos, hit - pos).append(to);
  out.append(s, pos, std::string::npos);
  return out;
}

const char* padding_name(Padding p) {
  return p == Padding::none ? "none" : p == Padding::longest ? "longest" : "max_length";
}

}  // namespace

WordPieceTokenizer WordPieceTokenizer::load(const std::string& vocab_path,
                                            WordPieceOptions options) {
  // The size first, so a huge file is refused before it is read (bert-base-multilingual's
  // vocabulary, among the largest, is under 1 MiB).
  std::error_code ec;
  const auto size = std::filesystem::file_size(vocab_path, ec);
  check(ec || size <= static_cast<uintmax_t>(kMaxVocabFileBytes),
        "wordpiece: vocabulary '{}' is {} bytes; a vocab.txt is at most {} bytes", vocab_path, size,
        kMaxVocabFileBytes);
  const std::vector<uint8_t> bytes = read_file_bytes(vocab_path, "wordpiece vocabulary");
  check(bytes.size() <= static_cast<size_t>(kMaxVocabFileBytes),
        "wordpiece: vocabulary '{}' is over {} bytes", vocab_path, kMaxVocabFileBytes);
  const std::string_view text = utf8_text(bytes, "wordpiece vocabulary", vocab_path);
  check(!text.empty(), "wordpiece: vocabulary '{}' is empty", vocab_path);
  std::vector<std::string> tokens;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find_first_of("\r\n", start);
    if (end == std::string_view::npos) end = text.size();
    check(end - start <= static_cast<size_t>(kMaxTokenBytes),
          "wordpiece: vocabulary '{}' line {} is {} bytes long; a token is at most {} bytes",
          vocab_path, tokens.size() + 1, end - start, kMaxTokenBytes);
    tokens.emplace_back(text.substr(start, end - start));
    start = end + (end + 1 < text.size() && text[end] == '\r' && text[end + 1] == '\n' ? 2 : 1);
  }
  return WordPieceTokenizer(std::move(tokens), options, vocab_path);
}

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> tokens, WordPieceOptions options,
                                       std::string source)
    : options_(options), source_(std::move(source)), tokens_(std::move(tokens)) {
  check(!tokens_.empty(), "wordpiece: vocabulary '{}' has no tokens", source_);
  check(options_.max_input_chars_per_word > 0,
        "wordpiece: max_input_chars_per_word must be positive, got {}",
        options_.max_input_chars_per_word);
  ids_.reserve(tokens_.size());
  for (size_t i = 0; i < tokens_.size(); ++i) {
    check(tokens_[i].size() <= static_cast<size_t>(kMaxTokenBytes),
          "wordpiece: vocabulary '{}' token {} is {} bytes long; a token is at most {} bytes",
          source_, i, tokens_[i].size(), kMaxTokenBytes);
    const auto [it, inserted] = ids_.emplace(tokens_[i], static_cast<int64_t>(i));
    check(inserted, "wordpiece: vocabulary '{}' has the token '{}' twice (lines {} and {})",
          source_, tokens_[i], it->second + 1, i + 1);
  }
  auto required = [&](std::string_view token) {
    const auto it = ids_.find(token);
    check(it != ids_.end(), "wordpiece: vocabulary '{}' has no '{}' token (a BERT vocab.txt has "
          "[PAD], [UNK], [CLS], [SEP] and [MASK])", source_, token);
    specials_.emplace_back(token);
    return it->second;
  };
  unk_id_ = required(kUnk);
  sep_id_ = required(kSep);
  pad_id_ = required(kPad);
  cls_id_ = required(kCls);
  if (const auto it = ids_.find(kMask); it != ids_.end()) {
    mask_id_ = it->second;
    specials_.emplace_back(kMask);
  }
}

bool WordPieceTokenizer::is_special(int64_t id) const {
  return id == cls_id_ || id == sep_id_ || id == pad_id_ || id == unk_id_ ||
         (mask_id_ >= 0 && id == mask_id_);
}

int64_t WordPieceTokenizer::token_to_id(std::string_view token) const {
  const auto it = ids_.find(token);
  return it == ids_.end() ? unk_id_ : it->second;
}

const std::string& WordPieceTokenizer::id_to_token(int64_t id) const {
  check(id >= 0 && id < vocab_size(), "wordpiece: id {} is out of range for a vocabulary of {}",
        id, vocab_size());
  return tokens_[static_cast<size_t>(id)];
}

std::vector<int64_t> WordPieceTokenizer::convert_tokens_to_ids(
    std::span<const std::string> tokens) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size());
  for (const std::string& t : tokens) ids.push_back(token_to_id(t));
  return ids;
}

std::vector<std::string> WordPieceTokenizer::wordpiece(std::string_view word) const {
  // Code point boundaries: pieces never cut a character. The word is valid UTF-8 (it came from the
  // basic tokenizer, or is checked here when called directly).
  (void)bert_text::decode_utf8(word, "wordpiece");
  std::vector<size_t> bounds;
  for (size_t i = 0; i < word.size(); ++i)
    if ((static_cast<unsigned char>(word[i]) & 0xC0) != 0x80) bounds.push_back(i);
  const int64_t chars = static_cast<int64_t>(bounds.size());
  bounds.push_back(word.size());
  if (chars > options_.max_input_chars_per_word) return {std::string(kUnk)};
  std::vector<std::string> pieces;
  std::string candidate;  // reused: "##" + the continuation being tried
  int64_t start = 0;
  while (start < chars) {
    int64_t end = chars;
    for (; end > start; --end) {
      candidate.assign(start > 0 ? "##" : "");
      candidate.append(word.substr(bounds[start], bounds[end] - bounds[start]));
      if (ids_.find(candidate) != ids_.end()) {
        pieces.push_back(candidate);
        break;
      }
    }
    if (end == start) return {std::string(kUnk)};  // no entry continues the word here
    start = end;
  }
  return pieces;
}

void WordPieceTokenizer::tokenize_into(std::string_view text, std::vector<std::string>& out) const {
  const BertBasicOptions basic{options_.lower_case, options_.tokenize_cjk};
  auto stretch = [&](std::string_view part) {
    if (part.empty()) return;
    std::string lowered;
    if (options_.lower_case) {
      lowered = bert_text::encode_utf8(bert_text::lower(bert_text::decode_utf8(part, "wordpiece")));
      part = lowered;
    }
    for (const std::string& word : bert_basic_tokenize(part, basic))
      for (std::string& piece : wordpiece(word)) out.push_back(std::move(piece));
  };
  // Special tokens: at each position the earliest occurrence of any of them (none is a prefix of
  // another, so there is no longest-match question).
  size_t pos = 0;
  while (pos < text.size()) {
    size_t best = std::string_view::npos;
    const std::string* best_token = nullptr;
    for (const std::string& s : specials_) {
      const size_t hit = text.find(s, pos);
      if (hit < best) best = hit, best_token = &s;
    }
    if (best_token == nullptr) break;
    stretch(text.substr(pos, best - pos));
    out.push_back(*best_token);
    pos = best + best_token->size();
  }
  stretch(text.substr(std::min(pos, text.size())));
}

std::vector<std::string> WordPieceTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> out;
  tokenize_into(text, out);
  return out;
}

WordPieceEncoding WordPieceTokenizer::build(std::vector<int64_t> a, const std::vector<int64_t>* b,
                                            const EncodeOptions& options) const {
  const int64_t max_length = options.max_length;
  check(max_length >= 0, "wordpiece encode: max_length must be >= 0, got {}", max_length);
  check(max_length == 0 || max_length >= 3,
        "wordpiece encode: max_length {} leaves no room for a token besides [CLS] and [SEP] "
        "(at least 3)", max_length);
  check(options.padding != Padding::max_length || max_length > 0,
        "wordpiece encode: padding to max_length needs max_length > 0");
  std::vector<int64_t> second = b ? *b : std::vector<int64_t>{};
  const int64_t specials = b ? 3 : 2;
  const int64_t total = static_cast<int64_t>(a.size() + second.size()) + specials;
  if (max_length > 0 && total > max_length) {
    // HF's longest_first: remove from the longer side until both are as long, then alternately,
    // the second text first (for a single text, everything comes off it).
    const int64_t remove = total - max_length;
    const int64_t la = static_cast<int64_t>(a.size()), lb = static_cast<int64_t>(second.size());
    const int64_t first_remove = std::min(std::abs(la - lb), remove);
    const int64_t second_remove = remove - first_remove;
    int64_t from_a = 0, from_b = 0;
    if (!b) {
      from_a = remove;
    } else if (la > lb) {
      from_a = first_remove + second_remove / 2;
      from_b = second_remove - second_remove / 2;
    } else {
      from_a = second_remove / 2;
      from_b = first_remove + second_remove - second_remove / 2;
    }
    a.resize(static_cast<size_t>(std::max<int64_t>(0, la - from_a)));
    second.resize(static_cast<size_t>(std::max<int64_t>(0, lb - from_b)));
  }
  WordPieceEncoding e;
  e.input_ids.push_back(cls_id_);
  e.input_ids.insert(e.input_ids.end(), a.begin(), a.end());
  e.input_ids.push_back(sep_id_);
  e.token_type_ids.assign(e.input_ids.size(), 0);
  if (b) {
    e.input_ids.insert(e.input_ids.end(), second.begin(), second.end());
    e.input_ids.push_back(sep_id_);
    e.token_type_ids.resize(e.input_ids.size(), 1);
  }
  e.attention_mask.assign(e.input_ids.size(), 1);
  if (options.padding == Padding::max_length &&
      static_cast<int64_t>(e.input_ids.size()) < max_length) {
    e.input_ids.resize(static_cast<size_t>(max_length), pad_id_);
    e.token_type_ids.resize(static_cast<size_t>(max_length), 0);
    e.attention_mask.resize(static_cast<size_t>(max_length), 0);
  }
  return e;
}

WordPieceEncoding WordPieceTokenizer::encode(std::string_view text,
                                             const EncodeOptions& options) const {
  return build(convert_tokens_to_ids(tokenize(text)), nullptr, options);
}

WordPieceEncoding WordPieceTokenizer::encode(std::string_view text_a, std::string_view text_b,
                                             const EncodeOptions& options) const {
  const std::vector<int64_t> b = convert_tokens_to_ids(tokenize(text_b));
  return build(convert_tokens_to_ids(tokenize(text_a)), &b, options);
}

WordPieceBatch WordPieceTokenizer::to_batch(std::vector<WordPieceEncoding> rows,
                                            const EncodeOptions& options) const {
  check(!rows.empty(), "wordpiece encode_batch: empty batch");
  size_t length = 0;
  for (const WordPieceEncoding& r : rows) length = std::max(length, r.input_ids.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    WordPieceEncoding& r = rows[i];
    check(options.padding != Padding::none || r.input_ids.size() == length,
          "wordpiece encode_batch: row {} has {} tokens and another {}; with padding {} every "
          "row must be as long (use Padding::longest or max_length)",
          i, r.input_ids.size(), length, padding_name(options.padding));
    r.input_ids.resize(length, pad_id_);
    r.token_type_ids.resize(length, 0);
    r.attention_mask.resize(length, 0);
  }
  const int64_t batch = static_cast<int64_t>(rows.size()), len = static_cast<int64_t>(length);
  WordPieceBatch out{Tensor::empty({batch, len}, DType::i64), Tensor::empty({batch, len}, DType::i64),
                     Tensor::empty({batch, len}, DType::i64)};
  for (size_t i = 0; i < rows.size(); ++i) {
    std::copy(rows[i].input_ids.begin(), rows[i].input_ids.end(),
              out.input_ids.data<int64_t>() + i * length);
    std::copy(rows[i].token_type_ids.begin(), rows[i].token_type_ids.end(),
              out.token_type_ids.data<int64_t>() + i * length);
    std::copy(rows[i].attention_mask.begin(), rows[i].attention_mask.end(),
              out.attention_mask.data<int64_t>() + i * length);
  }
  return out;
}

WordPieceBatch WordPieceTokenizer::encode_batch(std::span<const std::string> texts,
                                                const EncodeOptions& options) const {
  std::vector<WordPieceEncoding> rows;
  rows.reserve(texts.size());
  for (const std::string& t : texts) rows.push_back(encode(t, options));
  return to_batch(std::move(rows), options);
}

WordPieceBatch WordPieceTokenizer::encode_batch(
    std::span<const std::pair<std::string, std::string>> pairs,
    const EncodeOptions& options) const {
  std::vector<WordPieceEncoding> rows;
  rows.reserve(pairs.size());
  for (const auto& [a, b] : pairs) rows.push_back(encode(a, b, options));
  return to_batch(std::move(rows), options);
}

std::string WordPieceTokenizer::decode(std::span<const int64_t> ids,
                                       bool skip_special_tokens) const {
  std::string joined;  // " ".join(tokens)
  bool first = true;
  for (int64_t id : ids) {
    const std::string& token = id_to_token(id);
    if (skip_special_tokens && is_special(id)) continue;
    if (!first) joined += ' ';
    first = false;
    joined += token;
  }
  std::string s = replace_all(std::move(joined), " ##", "");
  // Python's str.strip(): whitespace at both ends.
  const std::u32string u = bert_text::decode_utf8(s, "wordpiece decode");
  size_t lo = 0, hi = u.size();
  while (lo < hi && bert_text::is_python_space(u[lo])) ++lo;
  while (hi > lo && bert_text::is_python_space(u[hi - 1])) --hi;
  s = bert_text::encode_utf8(std::u32string_view(u).substr(lo, hi - lo));
  // HF's clean_up_tokenization (clean_up_tokenization_spaces=True, its default).
  for (const auto& [from, to] : {std::pair<std::string_view, std::string_view>{" .", "."},
                                 {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
                                 {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"},
                                 {" 're", "'re"}})
    s = replace_all(std::move(s), from, to);
  return s;
}

}  // namespace dg::data
