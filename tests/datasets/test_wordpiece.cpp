// The BERT WordPiece tokenizer: against Hugging Face's reference BertTokenizer on the real
// all-MiniLM-L6-v2 vocabulary (golden data in tests/reference/wordpiece_golden.txt, skipped with a
// warning when scripts/fetch-model.sh has not installed the model), and on tiny vocabularies
// written here: greedy longest match, "##" continuations, [UNK], the basic tokenizer's steps,
// truncation, padding and masks, batches, and rejected vocabulary files and inputs.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "datasets/bert_basic_tokenizer.h"
#include "datasets/wordpiece.h"
#include "tests/datasets/data_test_util.h"

using namespace dg;
using namespace dg::data;

namespace {

using Strings = std::vector<std::string>;
using Ids = std::vector<int64_t>;

// Specials first, as in BERT's vocab.txt: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4.
WordPieceTokenizer tiny(const Strings& words, WordPieceOptions options = {}) {
  Strings tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  tokens.insert(tokens.end(), words.begin(), words.end());
  return WordPieceTokenizer(tokens, options, "tiny");
}

std::string model_vocab_path() {
  if (const char* dir = std::getenv("DG_MODEL_DIR")) return std::string(dir) + "/vocab.txt";
  std::string cache;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    cache = xdg;
  else if (const char* home = std::getenv("HOME"))
    cache = std::string(home) + "/.cache";
  return cache + "/dyngrad/models/all-MiniLM-L6-v2/vocab.txt";
}

// One record of wordpiece_golden.txt: every "key value" line, keys in file order.
struct GoldenCase {
  std::multimap<std::string, std::string> fields;
  std::vector<std::pair<std::string, std::string>> ordered;
  std::string one(const std::string& key) const {
    const auto [lo, hi] = fields.equal_range(key);
    REQUIRE(lo != hi);
    REQUIRE(std::next(lo) == hi);
    return lo->second;
  }
  bool has(const std::string& key) const { return fields.count(key) > 0; }
  Strings all(const std::string& key) const {
    Strings out;
    for (const auto& [k, v] : ordered)
      if (k == key) out.push_back(v);
    return out;
  }
};

std::vector<GoldenCase> read_golden(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::vector<GoldenCase> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.find(' ');
    const std::string key = line.substr(0, space);
    const std::string value = space == std::string::npos ? "" : line.substr(space + 1);
    if (key == "case") cases.emplace_back();
    REQUIRE(!cases.empty());
    cases.back().fields.emplace(key, value);
    cases.back().ordered.emplace_back(key, value);
  }
  return cases;
}

std::string json_string(const std::string& s) { return nlohmann::json::parse(s).get<std::string>(); }

Ids ints(const std::string& s) {
  std::istringstream in(s);
  Ids out;
  for (int64_t x; in >> x;) out.push_back(x);
  return out;
}

Strings words(const std::string& s) {
  std::istringstream in(s);
  Strings out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

Padding padding_of(const std::string& s) {
  if (s == "none") return Padding::none;
  if (s == "longest") return Padding::longest;
  REQUIRE(s == "max_length");
  return Padding::max_length;
}

Ids row(const Tensor& t, int64_t r) {
  const int64_t n = t.shape()[1];
  const int64_t* p = t.data<int64_t>() + r * n;
  return Ids(p, p + n);
}

}  // namespace

TEST_CASE("wordpiece: matches Hugging Face's BertTokenizer on the all-MiniLM-L6-v2 vocabulary",
          "[datasets][wordpiece][pretrained]") {
  const std::string vocab = model_vocab_path();
  if (!std::filesystem::exists(vocab)) {
    WARN("skipped: " << vocab << " not found (scripts/fetch-model.sh installs it)");
    return;
  }
  const WordPieceTokenizer uncased = WordPieceTokenizer::load(vocab);
  WordPieceOptions cased_options;
  cased_options.lower_case = false;
  const WordPieceTokenizer cased = WordPieceTokenizer::load(vocab, cased_options);
  REQUIRE(uncased.vocab_size() == 30522);
  CHECK(uncased.pad_id() == 0);
  CHECK(uncased.unk_id() == 100);
  CHECK(uncased.cls_id() == 101);
  CHECK(uncased.sep_id() == 102);
  CHECK(uncased.mask_id() == 103);

  const std::vector<GoldenCase> cases =
      read_golden(std::string(DG_TEST_DATA_DIR) + "/reference/wordpiece_golden.txt");
  REQUIRE(cases.size() >= 50);
  int64_t checked = 0;
  for (const GoldenCase& c : cases) {
    const std::string name = c.one("case"), kind = c.one("kind");
    INFO("case " << name);
    const WordPieceTokenizer& tok = c.has("lower_case") ? cased : uncased;
    if (kind == "single" && c.has("text")) {
      const std::string text = json_string(c.one("text"));
      CHECK(tok.tokenize(text) == words(c.one("tokens")));
      const WordPieceEncoding e = tok.encode(text);
      CHECK(e.input_ids == ints(c.one("input_ids")));
      CHECK(e.token_type_ids == Ids(e.input_ids.size(), 0));
      CHECK(e.attention_mask == Ids(e.input_ids.size(), 1));
      CHECK(tok.decode(e.input_ids) == json_string(c.one("decode")));
    } else if (kind == "single" || kind == "pair") {
      EncodeOptions options;
      options.max_length = std::stoll(c.one("max_length"));
      options.padding = padding_of(c.one("padding"));
      const std::string a = json_string(c.one("text_a"));
      const WordPieceEncoding e = kind == "pair"
                                      ? tok.encode(a, json_string(c.one("text_b")), options)
                                      : tok.encode(a, options);
      CHECK(e.input_ids == ints(c.one("input_ids")));
      CHECK(e.token_type_ids == ints(c.one("token_type_ids")));
      CHECK(e.attention_mask == ints(c.one("attention_mask")));
    } else {
      REQUIRE(kind == "batch");
      EncodeOptions options;
      options.max_length = std::stoll(c.one("max_length"));
      options.padding = padding_of(c.one("padding"));
      const Strings rows_a = c.all("row_a"), rows_b = c.all("row_b");
      WordPieceBatch batch;
      if (rows_b.empty()) {
        Strings texts;
        for (const std::string& a : rows_a) texts.push_back(json_string(a));
        batch = tok.encode_batch(texts, options);
      } else {
        REQUIRE(rows_a.size() == rows_b.size());
        std::vector<std::pair<std::string, std::string>> pairs;
        for (size_t i = 0; i < rows_a.size(); ++i)
          pairs.emplace_back(json_string(rows_a[i]), json_string(rows_b[i]));
        batch = tok.encode_batch(pairs, options);
      }
      const Strings ids = c.all("input_ids"), types = c.all("token_type_ids"),
                    mask = c.all("attention_mask");
      REQUIRE(batch.input_ids.dtype() == DType::i64);
      REQUIRE(batch.input_ids.shape() == Shape{static_cast<int64_t>(rows_a.size()),
                                                              static_cast<int64_t>(ints(ids[0]).size())});
      CHECK(batch.token_type_ids.shape() == batch.input_ids.shape());
      CHECK(batch.attention_mask.shape() == batch.input_ids.shape());
      for (size_t r = 0; r < rows_a.size(); ++r) {
        CHECK(row(batch.input_ids, r) == ints(ids[r]));
        CHECK(row(batch.token_type_ids, r) == ints(types[r]));
        CHECK(row(batch.attention_mask, r) == ints(mask[r]));
      }
    }
    ++checked;
  }
  CHECK(checked == static_cast<int64_t>(cases.size()));
}

TEST_CASE("wordpiece: greedy longest match first, with ## continuations",
          "[datasets][wordpiece]") {
  const WordPieceTokenizer tok = tiny({"un", "unaff", "##aff", "##able", "##a", "##ble", "a", "b"});
  // "unaff" is longer than "un", so it wins, although un ##aff ##able would also cover the word.
  CHECK(tok.wordpiece("unaffable") == Strings{"unaff", "##able"});
  CHECK(tok.wordpiece("una") == Strings{"un", "##a"});
  // Greedy, no backtracking: after "unaff" nothing continues "x", so the whole word is [UNK].
  CHECK(tok.wordpiece("unaffx") == Strings{"[UNK]"});
  // A word with no first piece, and a continuation that exists only as a word start.
  CHECK(tok.wordpiece("zzz") == Strings{"[UNK]"});
  CHECK(tok.wordpiece("ab") == Strings{"[UNK]"});  // "##b" is not in the vocabulary
  CHECK(tok.tokenize("Unaffable, una!") ==
        Strings{"unaff", "##able", "[UNK]", "un", "##a", "[UNK]"});
  CHECK(tok.encode("unaffable").input_ids == Ids{2, 6, 8, 3});
}

TEST_CASE("wordpiece: a word over max_input_chars_per_word code points is [UNK]",
          "[datasets][wordpiece]") {
  const WordPieceTokenizer tok = tiny({"a", "##a", "\xC3\xA9", "##\xC3\xA9"});
  const Strings hundred = tok.wordpiece(std::string(100, 'a'));
  REQUIRE(hundred.size() == 100);
  CHECK(hundred[0] == "a");
  CHECK(hundred[99] == "##a");
  CHECK(tok.wordpiece(std::string(101, 'a')) == Strings{"[UNK]"});
  // Counted in code points, not bytes: 100 "é" (200 bytes) are still one word of pieces.
  std::string e100;
  for (int i = 0; i < 100; ++i) e100 += "\xC3\xA9";
  CHECK(tok.wordpiece(e100).size() == 100);
  WordPieceOptions options;
  options.max_input_chars_per_word = 3;
  const WordPieceTokenizer short_words = tiny({"a", "##a"}, options);
  CHECK(short_words.tokenize("aaa aaaa") == Strings{"a", "##a", "##a", "[UNK]"});
}

TEST_CASE("wordpiece: the basic tokenizer's cleaning, CJK, accents and punctuation",
          "[datasets][wordpiece]") {
  // Controls dropped, tabs/newlines/odd spaces split, accents stripped after lower-casing.
  CHECK(bert_basic_tokenize("A\x07" "b\tC\xC2\xA0" "D\xE2\x80\x8B" "E") ==
        Strings{"ab", "c", "de"});
  CHECK(bert_basic_tokenize("Caf\xC3\xA9 NA\xC3\x8FVE") == Strings{"cafe", "naive"});
  // A combining acute after "e" (NFD input) is the same word as the precomposed one.
  CHECK(bert_basic_tokenize("cafe\xCC\x81") == Strings{"cafe"});
  // Cased: nothing lower-cased or stripped, but NFC applies.
  CHECK(bert_basic_tokenize("Cafe\xCC\x81", {false, true}) == Strings{"Caf\xC3\xA9"});
  // CJK ideographs are words of their own; kana is not spaced.
  CHECK(bert_basic_tokenize("ab\xE4\xB8\xAD\xE6\x96\x87" "cd") ==
        Strings{"ab", "\xE4\xB8\xAD", "\xE6\x96\x87", "cd"});
  CHECK(bert_basic_tokenize("\xE3\x82\xAB\xE3\x82\xBF") == Strings{"\xE3\x82\xAB\xE3\x82\xBF"});
  // ASCII symbols count as punctuation ("$", "^", "`"), Unicode P* too (the em dash); a
  // Unicode symbol (the euro sign, Sc) does not.
  CHECK(bert_basic_tokenize("a$b^c`d\xE2\x80\x94" "e\xE2\x82\xAC" "f") ==
        Strings{"a", "$", "b", "^", "c", "`", "d", "\xE2\x80\x94", "e\xE2\x82\xAC" "f"});
  // Mc marks (a Devanagari vowel sign) survive accent stripping; Mn marks do not.
  CHECK(bert_text::strip_accents(U"\u0915\u093E\u0301") == U"\u0915\u093E");
  // Python's lower(): capital I with dot becomes i + U+0307.
  CHECK(bert_text::lower(U"\u0130") == U"i\u0307");
  CHECK(bert_basic_tokenize("   \t\n ").empty());
  CHECK(bert_basic_tokenize("").empty());
}

TEST_CASE("wordpiece: special tokens in the text stay whole", "[datasets][wordpiece]") {
  const WordPieceTokenizer tok = tiny({"hello", "world", "x", "y", "[", "]", "sep"});
  CHECK(tok.tokenize("Hello [SEP] world[MASK]x [sep] y[CLS]") ==
        Strings{"hello", "[SEP]", "world", "[MASK]", "x", "[", "sep", "]", "y", "[CLS]"});
}

TEST_CASE("wordpiece: pairs, token types, longest_first truncation, padding and masks",
          "[datasets][wordpiece]") {
  // ids: a=5 b=6 c=7 d=8 e=9 f=10 g=11
  const WordPieceTokenizer tok = tiny({"a", "b", "c", "d", "e", "f", "g"});
  const WordPieceEncoding pair = tok.encode("a b c", "d e");
  CHECK(pair.input_ids == Ids{2, 5, 6, 7, 3, 8, 9, 3});
  CHECK(pair.token_type_ids == Ids{0, 0, 0, 0, 0, 1, 1, 1});
  CHECK(pair.attention_mask == Ids(8, 1));

  EncodeOptions options;
  options.max_length = 7;  // one to remove: from the longer first text
  CHECK(tok.encode("a b c", "d e", options).input_ids == Ids{2, 5, 6, 3, 8, 9, 3});
  options.max_length = 6;  // two: first down to equal length, then the second text
  CHECK(tok.encode("a b c", "d e", options).input_ids == Ids{2, 5, 6, 3, 8, 3});
  options.max_length = 5;  // three: a, b | d
  CHECK(tok.encode("a b c", "d e", options).input_ids == Ids{2, 5, 3, 8, 3});
  options.max_length = 3;  // everything goes
  CHECK(tok.encode("a b c", "d e", options).input_ids == Ids{2, 3, 3});
  // The second text longer: it loses first.
  options.max_length = 6;
  CHECK(tok.encode("a", "b c d e", options).input_ids == Ids{2, 5, 3, 6, 7, 3});
  // A single text is cut at the end.
  options.max_length = 4;
  CHECK(tok.encode("a b c d e", options).input_ids == Ids{2, 5, 6, 3});

  options.max_length = 8;
  options.padding = Padding::max_length;
  const WordPieceEncoding padded = tok.encode("a", "b", options);
  CHECK(padded.input_ids == Ids{2, 5, 3, 6, 3, 0, 0, 0});
  CHECK(padded.token_type_ids == Ids{0, 0, 0, 1, 1, 0, 0, 0});
  CHECK(padded.attention_mask == Ids{1, 1, 1, 1, 1, 0, 0, 0});

  // A batch padded to its longest row, as i64 tensors [B, L].
  const Strings texts = {"a b c d", "e", ""};
  const WordPieceBatch batch = tok.encode_batch(texts);
  REQUIRE(batch.input_ids.shape() == Shape{3, 6});
  CHECK(batch.attention_mask.dtype() == DType::i64);
  CHECK(row(batch.input_ids, 0) == Ids{2, 5, 6, 7, 8, 3});
  CHECK(row(batch.input_ids, 1) == Ids{2, 9, 3, 0, 0, 0});
  CHECK(row(batch.input_ids, 2) == Ids{2, 3, 0, 0, 0, 0});
  CHECK(row(batch.attention_mask, 1) == Ids{1, 1, 1, 0, 0, 0});
  CHECK(row(batch.token_type_ids, 0) == Ids(6, 0));
  const std::vector<std::pair<std::string, std::string>> pairs = {{"a", "b c"}, {"d e f", "g"}};
  const WordPieceBatch pb = tok.encode_batch(pairs);
  REQUIRE(pb.input_ids.shape() == Shape{2, 7});
  CHECK(row(pb.token_type_ids, 0) == Ids{0, 0, 0, 1, 1, 1, 0});
  CHECK(row(pb.attention_mask, 0) == Ids{1, 1, 1, 1, 1, 1, 0});

  // Without padding a batch must already be rectangular.
  EncodeOptions unpadded;
  unpadded.padding = Padding::none;
  CHECK_THROWS_WITH(tok.encode_batch(texts, unpadded), Catch::Contains("row 1 has 3 tokens"));
  CHECK(tok.encode_batch(Strings{"a", "b"}, unpadded).input_ids.shape() == Shape{2, 3});
  EncodeOptions bad;
  bad.max_length = 2;
  CHECK_THROWS_WITH(tok.encode("a", bad), Catch::Contains("at least 3"));
  bad.max_length = 0;
  bad.padding = Padding::max_length;
  CHECK_THROWS_WITH(tok.encode("a", bad), Catch::Contains("needs max_length > 0"));
  CHECK_THROWS_WITH(tok.encode_batch(Strings{}), Catch::Contains("empty batch"));
}

TEST_CASE("wordpiece: decode joins pieces as Hugging Face does", "[datasets][wordpiece]") {
  const WordPieceTokenizer tok = tiny({"don", "'", "t", "play", "##ing", ".", "ok"});
  const Ids ids = tok.encode("Don't playing. ok").input_ids;
  CHECK(tok.decode(ids) == "[CLS] don't playing. ok [SEP]");
  CHECK(tok.decode(ids, true) == "don't playing. ok");
  CHECK(tok.decode(Ids{}).empty());
  CHECK_THROWS_WITH(tok.decode(Ids{99}), Catch::Contains("id 99 is out of range"));
}

TEST_CASE("wordpiece: malformed UTF-8 text is an error naming the byte",
          "[datasets][wordpiece]") {
  const WordPieceTokenizer tok = tiny({"a"});
  CHECK_THROWS_WITH(tok.tokenize("a\xC3"), Catch::Contains("byte 1 (0xC3)"));
  CHECK_THROWS_WITH(tok.encode("ok \xED\xA0\x80"), Catch::Contains("not valid UTF-8"));  // surrogate
  CHECK_THROWS_WITH(tok.encode("\xC0\xAF"), Catch::Contains("byte 0 (0xC0)"));  // overlong "/"
  CHECK_THROWS_WITH(tok.encode("a", "b\xFF"), Catch::Contains("not valid UTF-8"));
}

TEST_CASE("wordpiece: vocab.txt files, good and bad", "[datasets][wordpiece]") {
  test::TempDir dir;
  // Line numbers are ids; \r\n and \r end lines too; a final newline adds no token.
  const std::string good = dir.file("vocab.txt");
  test::write_text(good, "[PAD]\r\n[UNK]\n[CLS]\r[SEP]\nhello\n##s\n");
  const WordPieceTokenizer tok = WordPieceTokenizer::load(good);
  CHECK(tok.vocab_size() == 6);
  CHECK(tok.mask_id() == -1);
  // Without [MASK] in the vocabulary, "[MASK]" in a text is ordinary punctuation and a word.
  CHECK(tok.encode("hellos [MASK]").input_ids == Ids{2, 4, 5, 1, 1, 1, 3});

  const std::string missing = dir.file("no_sep.txt");
  test::write_text(missing, "[PAD]\n[UNK]\n[CLS]\nhello\n");
  CHECK_THROWS_WITH(WordPieceTokenizer::load(missing),
                    Catch::Contains(missing) && Catch::Contains("no '[SEP]' token"));
  const std::string empty = dir.file("empty.txt");
  test::write_text(empty, "");
  CHECK_THROWS_WITH(WordPieceTokenizer::load(empty), Catch::Contains("is empty"));
  const std::string twice = dir.file("twice.txt");
  test::write_text(twice, "[PAD]\n[UNK]\n[CLS]\n[SEP]\nx\ny\nx\n");
  CHECK_THROWS_WITH(WordPieceTokenizer::load(twice),
                    Catch::Contains("token 'x' twice (lines 5 and 7)"));
  const std::string long_line = dir.file("long.txt");
  test::write_text(long_line, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n" + std::string(5000, 'x') + "\n");
  CHECK_THROWS_WITH(WordPieceTokenizer::load(long_line),
                    Catch::Contains("line 5 is 5000 bytes long"));
  const std::string latin1 = dir.file("latin1.txt");
  test::write_text(latin1, "[PAD]\n[UNK]\n[CLS]\n[SEP]\ncaf\xE9\n");
  CHECK_THROWS_WITH(WordPieceTokenizer::load(latin1), Catch::Contains("not valid UTF-8"));
  CHECK_THROWS_WITH(WordPieceTokenizer::load(dir.file("absent.txt")),
                    Catch::Contains("absent.txt"));
  // A file over the size limit is refused before it is read (a sparse file: no disk used).
  const std::string huge = dir.file("huge.txt");
  test::write_text(huge, "[PAD]\n");
  std::filesystem::resize_file(huge, WordPieceTokenizer::kMaxVocabFileBytes + 1);
  CHECK_THROWS_WITH(WordPieceTokenizer::load(huge), Catch::Contains("a vocab.txt is at most"));
  CHECK_THROWS_WITH(WordPieceTokenizer(Strings{}), Catch::Contains("has no tokens"));
}
