// Tokenizers: word and character splitting, vocabulary order and min frequency, <pad>/<unk>,
// save/load round trips (including awkward characters), corrupt files, and TokenizedDataset's
// encoding, pairs, truncation and padded batches.
#include <catch2/catch.hpp>

#include "datasets/tokenizer.h"
#include "tests/datasets/data_test_util.h"

using namespace dg;
using namespace dg::data;

TEST_CASE("tokenizer: word splitting lower-cases and splits punctuation", "[datasets][tokenizer]") {
  CHECK(split_words("Don't STOP,  now!\tcafé", true) ==
        std::vector<std::string>{"don", "'", "t", "stop", ",", "now", "!", "café"});
  CHECK(split_words("A-b", false) == std::vector<std::string>{"A", "-", "b"});
  CHECK(split_words("   ", true).empty());
  CHECK(split_chars("Aé b", true) == std::vector<std::string>{"a", "é", " ", "b"});
  // A malformed UTF-8 byte is a piece of its own.
  CHECK(split_chars(std::string("x\xC3"), false) == std::vector<std::string>{"x", "\xC3"});
}

TEST_CASE("tokenizer: vocabulary from training texts, with <pad>=0, <unk>=1 and min_freq",
          "[datasets][tokenizer]") {
  const std::vector<std::string> train = {"the cat sat", "The dog sat.", "the end"};
  TokenizerOptions options;
  options.min_freq = 2;
  const Tokenizer tok = Tokenizer::build(train, options);
  // the (3), sat (2); cat, dog, end, "." seen once.
  CHECK(tok.vocab().tokens() == std::vector<std::string>{"<pad>", "<unk>", "the", "sat"});
  CHECK(tok.encode("The cat SAT") == std::vector<int64_t>{2, 1, 3});
  CHECK(tok.decode(std::vector<int64_t>{2, 1, 3, 0, 0}) == "the <unk> sat");
  CHECK(tok.vocab().id("zebra") == Vocabulary::kUnkId);
  CHECK_THROWS_WITH(tok.vocab().token(4), Catch::Contains("id 4 out of range for 4 tokens"));

  // Ties are broken by token, so the order does not depend on the input order.
  options.min_freq = 1;
  const Tokenizer all = Tokenizer::build(train, options);
  CHECK(all.vocab().tokens() ==
        std::vector<std::string>{"<pad>", "<unk>", "the", "sat", ".", "cat", "dog", "end"});
  options.max_size = 5;
  CHECK(Tokenizer::build(train, options).vocab().size() == 5);
  options.max_size = 1;
  CHECK_THROWS_WITH(Tokenizer::build(train, options), Catch::Contains("no room"));
}

TEST_CASE("tokenizer: save and load round trip", "[datasets][tokenizer]") {
  test::TempDir dir;
  TokenizerOptions word_options;
  word_options.extra_specials = {"<sep>", "<cls>"};
  const Tokenizer words = Tokenizer::build({"Hello, world", "hello again"}, word_options);
  words.save(dir.file("words.txt"));
  const Tokenizer words2 = Tokenizer::load(dir.file("words.txt"));
  CHECK(words2.vocab().tokens() == words.vocab().tokens());
  CHECK(words2.options().extra_specials == word_options.extra_specials);
  CHECK(words2.vocab().id("<sep>") == 2);
  CHECK(words2.encode("hello, unknown world") == words.encode("hello, unknown world"));

  // Characters that would break a line-based file: newline, tab, CR, backslash, space.
  TokenizerOptions char_options;
  char_options.kind = TokenizerKind::character;
  char_options.lowercase = false;
  const std::string text = "a\\b\tc\nd\re f";
  const Tokenizer chars = Tokenizer::build({text}, char_options);
  chars.save(dir.file("chars.txt"));
  const Tokenizer chars2 = Tokenizer::load(dir.file("chars.txt"));
  CHECK(chars2.options().kind == TokenizerKind::character);
  CHECK_FALSE(chars2.options().lowercase);
  CHECK(chars2.vocab().tokens() == chars.vocab().tokens());
  CHECK(chars2.decode(chars2.encode(text)) == text);
  CHECK(chars2.encode("Z") == std::vector<int64_t>{Vocabulary::kUnkId});

  // Truncated and foreign files.
  std::ifstream in(dir.file("words.txt"));
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  test::write_text(dir.file("cut.txt"),
                   content.substr(0, content.rfind('\n', content.size() - 2) + 1));
  CHECK_THROWS_WITH(Tokenizer::load(dir.file("cut.txt")), Catch::Contains("truncated or corrupt"));
  test::write_text(dir.file("other.txt"), "hello\nworld\n");
  CHECK_THROWS_WITH(Tokenizer::load(dir.file("other.txt")),
                    Catch::Contains("not a dyngrad tokenizer"));
  CHECK_THROWS_WITH(Tokenizer::load(dir.file("absent.txt")), Catch::Contains("absent.txt"));
}

TEST_CASE("tokenizer: TokenizedDataset encodes, joins pairs, truncates and pads batches",
          "[datasets][tokenizer]") {
  TextDataset text;
  text.class_names = {"no", "yes"};
  text.examples = {{{"a b c"}, 1, 0.0}, {{"b"}, 0, 0.0}, {{"a", "c c"}, 1, 0.0}};
  TokenizerOptions options;
  options.extra_specials = {"<sep>", "<cls>"};
  const Tokenizer tok = Tokenizer::build(text.all_texts(), options);
  // Vocabulary: <pad> <unk> <sep> <cls> c(3) a(2) b(2).
  REQUIRE(tok.vocab().tokens() ==
          std::vector<std::string>{"<pad>", "<unk>", "<sep>", "<cls>", "c", "a", "b"});

  TokenizedOptions tokenized;
  tokenized.prefix = "<cls>";
  const TokenizedDataset data(text, tok, tokenized);
  CHECK(data.sequences()[0] == std::vector<int64_t>{3, 5, 6, 4});
  CHECK(data.sequences()[2] == std::vector<int64_t>{3, 5, 2, 4, 4});
  const Example e = data.get(1);
  CHECK(e.input.to_vector<int64_t>() == std::vector<int64_t>{3, 6});
  CHECK(e.target.item<int64_t>() == 0);

  const std::vector<int64_t> indices{1, 2};
  const Batch batch = data.get_batch(indices);
  CHECK(batch.input.shape() == Shape{2, 5});
  CHECK(batch.input.to_vector<int64_t>() == std::vector<int64_t>{3, 6, 0, 0, 0, 3, 5, 2, 4, 4});
  CHECK(batch.mask.dtype() == DType::b8);
  CHECK(batch.mask.to_vector<bool>() ==
        std::vector<bool>{true, true, false, false, false, true, true, true, true, true});
  CHECK(batch.lengths.to_vector<int64_t>() == std::vector<int64_t>{2, 5});
  CHECK(batch.target.to_vector<int64_t>() == std::vector<int64_t>{0, 1});
  // The generic collation path gives the same batch.
  const Batch generic = collate({data.get(1), data.get(2)}, indices, data.collate_options());
  CHECK(generic.input.to_vector<int64_t>() == batch.input.to_vector<int64_t>());
  CHECK(generic.mask.to_vector<bool>() == batch.mask.to_vector<bool>());

  tokenized.max_length = 3;
  CHECK(TokenizedDataset(text, tok, tokenized).sequences()[2] == std::vector<int64_t>{3, 5, 2});
  const Tokenizer plain = Tokenizer::build(text.all_texts());
  CHECK_THROWS_WITH(TokenizedDataset(text, plain),
                    Catch::Contains("separator token '<sep>' is not in the vocabulary"));

  text.regression = true;
  text.class_names.clear();
  text.examples[0].value = 2.5;
  const TokenizedDataset regression(text, tok);
  CHECK(regression.get(0).target.dtype() == DType::f32);
  CHECK(regression.get_batch(std::vector<int64_t>{0}).target.to_vector<float>() ==
        std::vector<float>{2.5f});
}
