// Vocabulary, word/character tokenizers, their text file format, and TokenizedDataset (see
// tokenizer.h).
#include "datasets/tokenizer.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>

#include "datasets/io.h"
#include "engine/error.h"

namespace dg::data {
namespace {

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }
bool ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
// ASCII punctuation: the printable characters that are neither letters, digits nor space.
bool ascii_punct(char c) {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
         (c >= '{' && c <= '~');
}

// Length in bytes of the UTF-8 sequence starting at s[i]; 1 for a malformed or truncated one.
size_t utf8_length(std::string_view s, size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  const size_t n = b < 0x80           ? 1
                   : (b >> 5) == 0x6  ? 2
                   : (b >> 4) == 0xE  ? 3
                   : (b >> 3) == 0x1E ? 4
                                      : 1;
  if (i + n > s.size()) return 1;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return 1;
  return n;
}

std::string escape(std::string_view token) {
  std::string out;
  for (char c : token) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: out += c;
    }
  }
  return out;
}

std::string unescape(std::string_view line, const std::string& path, int64_t line_number) {
  std::string out;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] != '\\') {
      out += line[i];
      continue;
    }
    check(i + 1 < line.size(), "tokenizer: '{}' line {}: dangling backslash", path, line_number);
    switch (line[++i]) {
      case '\\': out += '\\'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      default: fail("tokenizer: '{}' line {}: unknown escape '\\{}'", path, line_number, line[i]);
    }
  }
  return out;
}

const char* kind_name(TokenizerKind kind) {
  return kind == TokenizerKind::word ? "word" : "character";
}

}  // namespace

// ---------------------------------------------------------------- Vocabulary

Vocabulary::Vocabulary()
    : Vocabulary(std::vector<std::string>{std::string(kPad), std::string(kUnk)}) {}

Vocabulary::Vocabulary(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
  check(tokens_.size() >= 2 && tokens_[0] == kPad && tokens_[1] == kUnk,
        "Vocabulary: the first two tokens must be {} and {}", kPad, kUnk);
  ids_.reserve(tokens_.size());
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const bool fresh = ids_.emplace(tokens_[i], static_cast<int64_t>(i)).second;
    check(fresh, "Vocabulary: token '{}' appears twice (ids {} and {})", tokens_[i],
          ids_.find(tokens_[i])->second, i);
  }
}

int64_t Vocabulary::id(std::string_view token) const {
  const auto it = ids_.find(token);
  return it == ids_.end() ? kUnkId : it->second;
}

bool Vocabulary::contains(std::string_view token) const { return ids_.find(token) != ids_.end(); }

const std::string& Vocabulary::token(int64_t id) const {
  check(id >= 0 && id < size(), "Vocabulary: id {} out of range for {} tokens", id, size());
  return tokens_[id];
}

// ---------------------------------------------------------------- splitting

std::vector<std::string> split_words(std::string_view text, bool lowercase) {
  std::vector<std::string> words;
  std::string current;
  const auto flush = [&] {
    if (!current.empty()) words.push_back(std::move(current));
    current.clear();
  };
  for (char c : text) {
    if (ascii_space(c)) {
      flush();
    } else if (ascii_punct(c)) {
      flush();
      words.emplace_back(1, c);
    } else {
      current += lowercase ? ascii_lower(c) : c;
    }
  }
  flush();
  return words;
}

std::vector<std::string> split_chars(std::string_view text, bool lowercase) {
  std::vector<std::string> chars;
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_length(text, i);
    std::string piece(text.substr(i, n));
    if (lowercase && n == 1) piece[0] = ascii_lower(piece[0]);
    chars.push_back(std::move(piece));
    i += n;
  }
  return chars;
}

// ---------------------------------------------------------------- Tokenizer

Tokenizer::Tokenizer(TokenizerOptions options, Vocabulary vocab)
    : options_(std::move(options)), vocab_(std::move(vocab)) {
  for (size_t i = 0; i < options_.extra_specials.size(); ++i)
    check(vocab_.id(options_.extra_specials[i]) == static_cast<int64_t>(i) + 2,
          "Tokenizer: special token '{}' must have id {} in the vocabulary",
          options_.extra_specials[i], i + 2);
}

Tokenizer Tokenizer::build(const std::vector<std::string>& training_texts,
                           TokenizerOptions options) {
  check(options.min_freq >= 1, "Tokenizer::build: min_freq must be at least 1, got {}",
        options.min_freq);
  check(options.max_size == 0 ||
            options.max_size >= 2 + static_cast<int64_t>(options.extra_specials.size()),
        "Tokenizer::build: max_size {} leaves no room for the {} special tokens", options.max_size,
        2 + options.extra_specials.size());
  std::vector<std::string> tokens{std::string(Vocabulary::kPad), std::string(Vocabulary::kUnk)};
  tokens.insert(tokens.end(), options.extra_specials.begin(), options.extra_specials.end());

  std::map<std::string, int64_t, std::less<>> counts;
  const bool words = options.kind == TokenizerKind::word;
  for (const std::string& text : training_texts)
    for (std::string& piece :
         words ? split_words(text, options.lowercase) : split_chars(text, options.lowercase))
      ++counts[std::move(piece)];

  std::vector<std::pair<std::string, int64_t>> frequent;
  for (auto& [token, count] : counts)
    if (count >= options.min_freq && std::find(tokens.begin(), tokens.end(), token) == tokens.end())
      frequent.emplace_back(token, count);
  // Most frequent first; the map already ordered ties by token, and stable_sort keeps that.
  std::stable_sort(frequent.begin(), frequent.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  for (auto& [token, count] : frequent) {
    if (options.max_size > 0 && static_cast<int64_t>(tokens.size()) >= options.max_size) break;
    tokens.push_back(token);
  }
  return Tokenizer(std::move(options), Vocabulary(std::move(tokens)));
}

std::vector<std::string> Tokenizer::split(std::string_view text) const {
  return options_.kind == TokenizerKind::word ? split_words(text, options_.lowercase)
                                              : split_chars(text, options_.lowercase);
}

std::vector<int64_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int64_t> ids;
  for (const std::string& piece : split(text)) ids.push_back(vocab_.id(piece));
  return ids;
}

std::string Tokenizer::decode(std::span<const int64_t> ids) const {
  std::string out;
  const char* separator = options_.kind == TokenizerKind::word ? " " : "";
  bool first = true;
  for (int64_t id : ids) {
    if (id == Vocabulary::kPadId) continue;
    if (!first) out += separator;
    out += vocab_.token(id);
    first = false;
  }
  return out;
}

void Tokenizer::save(const std::string& path) const {
  std::ofstream out(path, std::ios::binary);
  check(static_cast<bool>(out), "tokenizer: cannot open '{}' for writing", path);
  out << "dyngrad-tokenizer 1\n"
      << "kind " << kind_name(options_.kind) << "\n"
      << "lowercase " << (options_.lowercase ? 1 : 0) << "\n"
      << "min_freq " << options_.min_freq << "\n"
      << "max_size " << options_.max_size << "\n"
      << "specials " << 2 + options_.extra_specials.size() << "\n"
      << "tokens " << vocab_.size() << "\n";
  for (const std::string& token : vocab_.tokens()) out << escape(token) << "\n";
  out.flush();
  check(static_cast<bool>(out), "tokenizer: writing '{}' failed", path);
}

Tokenizer Tokenizer::load(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path, "tokenizer");
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < text.size();) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    lines.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  check(!lines.empty() && lines[0] == "dyngrad-tokenizer 1",
        "tokenizer: '{}' is not a dyngrad tokenizer file (first line must be \"dyngrad-tokenizer "
        "1\")",
        path);
  // "key value" lines, in this order.
  const auto value_of = [&](size_t line, std::string_view key) -> std::string_view {
    check(line < lines.size() && lines[line].starts_with(key) &&
              lines[line].size() > key.size() + 1 && lines[line][key.size()] == ' ',
          "tokenizer: '{}' line {}: expected \"{} <value>\"", path, line + 1, key);
    return lines[line].substr(key.size() + 1);
  };
  const auto int_of = [&](size_t line, std::string_view key) {
    const std::string_view v = value_of(line, key);
    int64_t x = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    check(ec == std::errc() && end == v.data() + v.size() && x >= 0,
          "tokenizer: '{}' line {}: {} must be a non-negative integer, got '{}'", path, line + 1,
          key, v);
    return x;
  };
  TokenizerOptions options;
  const std::string_view kind = value_of(1, "kind");
  check(kind == "word" || kind == "character", "tokenizer: '{}' line 2: unknown kind '{}'", path,
        kind);
  options.kind = kind == "word" ? TokenizerKind::word : TokenizerKind::character;
  options.lowercase = int_of(2, "lowercase") != 0;
  options.min_freq = int_of(3, "min_freq");
  options.max_size = int_of(4, "max_size");
  const int64_t specials = int_of(5, "specials");
  const int64_t count = int_of(6, "tokens");
  constexpr size_t kFirstToken = 7;
  check(static_cast<int64_t>(lines.size() - kFirstToken) == count,
        "tokenizer: '{}' announces {} tokens but holds {}: the file is truncated or corrupt", path,
        count, static_cast<int64_t>(lines.size() - kFirstToken));
  check(specials >= 2 && specials <= count, "tokenizer: '{}': {} specials for {} tokens", path,
        specials, count);
  std::vector<std::string> tokens;
  tokens.reserve(count);
  for (size_t l = kFirstToken; l < lines.size(); ++l)
    tokens.push_back(unescape(lines[l], path, static_cast<int64_t>(l) + 1));
  options.extra_specials.assign(tokens.begin() + 2, tokens.begin() + specials);
  return Tokenizer(std::move(options), Vocabulary(std::move(tokens)));
}

// ---------------------------------------------------------------- TokenizedDataset

TokenizedDataset::TokenizedDataset(const TextDataset& text, const Tokenizer& tokenizer,
                                   TokenizedOptions options)
    : class_names_(text.class_names), regression_(text.regression) {
  check(options.max_length >= 0, "TokenizedDataset: max_length must be non-negative, got {}",
        options.max_length);
  const Vocabulary& vocab = tokenizer.vocab();
  const auto special_id = [&](const std::string& token, const char* role) {
    check(vocab.contains(token),
          "TokenizedDataset: the {} token '{}' is not in the vocabulary (add it to "
          "TokenizerOptions::extra_specials)",
          role, token);
    return vocab.id(token);
  };
  const int64_t prefix = options.prefix.empty() ? -1 : special_id(options.prefix, "prefix");
  int64_t separator = -1;
  sequences_.reserve(text.examples.size());
  for (const TextExample& example : text.examples) {
    std::vector<int64_t> ids;
    if (prefix >= 0) ids.push_back(prefix);
    for (size_t t = 0; t < example.texts.size(); ++t) {
      if (t > 0) {
        if (separator < 0) separator = special_id(options.separator, "separator");
        ids.push_back(separator);
      }
      const std::vector<int64_t> piece = tokenizer.encode(example.texts[t]);
      ids.insert(ids.end(), piece.begin(), piece.end());
    }
    if (options.max_length > 0 && static_cast<int64_t>(ids.size()) > options.max_length)
      ids.resize(options.max_length);
    sequences_.push_back(std::move(ids));
    labels_.push_back(example.label);
    values_.push_back(example.value);
  }
}

Example TokenizedDataset::get(int64_t index) const {
  check(index >= 0 && index < size(), "TokenizedDataset: index {} out of range for {} examples",
        index, size());
  const std::vector<int64_t>& ids = sequences_[index];
  Tensor input = Tensor::empty({static_cast<int64_t>(ids.size())}, DType::i64);
  std::copy(ids.begin(), ids.end(), input.data<int64_t>());
  Tensor target = Tensor::empty({}, regression_ ? DType::f32 : DType::i64);
  if (regression_)
    *target.data<float>() = static_cast<float>(values_[index]);
  else
    *target.data<int64_t>() = labels_[index];
  return {input, target};
}

Batch TokenizedDataset::get_batch(std::span<const int64_t> indices) const {
  check(!indices.empty(), "TokenizedDataset: empty batch");
  const int64_t batch_size = static_cast<int64_t>(indices.size());
  int64_t max_len = 0;
  for (int64_t i : indices) {
    check(i >= 0 && i < size(), "TokenizedDataset: index {} out of range for {} examples", i,
          size());
    max_len = std::max(max_len, static_cast<int64_t>(sequences_[i].size()));
  }
  Batch batch;
  batch.indices.assign(indices.begin(), indices.end());
  batch.input = Tensor::empty({batch_size, max_len}, DType::i64);
  batch.mask = Tensor::empty({batch_size, max_len}, DType::b8);
  batch.lengths = Tensor::empty({batch_size}, DType::i64);
  batch.target = Tensor::empty({batch_size}, regression_ ? DType::f32 : DType::i64);
  int64_t* ids = batch.input.data<int64_t>();
  bool* mask = batch.mask.data<bool>();
  int64_t* lengths = batch.lengths.data<int64_t>();
  for (int64_t b = 0; b < batch_size; ++b) {
    const std::vector<int64_t>& seq = sequences_[indices[b]];
    const int64_t n = static_cast<int64_t>(seq.size());
    std::copy(seq.begin(), seq.end(), ids + b * max_len);
    std::fill(ids + b * max_len + n, ids + (b + 1) * max_len, Vocabulary::kPadId);
    std::fill(mask + b * max_len, mask + b * max_len + n, true);
    std::fill(mask + b * max_len + n, mask + (b + 1) * max_len, false);
    lengths[b] = n;
    if (regression_)
      batch.target.data<float>()[b] = static_cast<float>(values_[indices[b]]);
    else
      batch.target.data<int64_t>()[b] = labels_[indices[b]];
  }
  return batch;
}

}  // namespace dg::data
