// Fuzz target: the BERT WordPiece tokenizer on arbitrary bytes. The first byte picks the mode:
// odd, the rest is a vocab.txt read through WordPieceTokenizer::load and then used on a fixed
// sentence; even, the rest is text (cut in two at the first 0x01 byte, for a sentence pair)
// tokenized with a small fixed vocabulary, uncased or cased (bit 1), truncated and padded
// (bits 2-5 give max_length). Only dg::Error may escape (malformed UTF-8, a bad vocabulary);
// every id must index the vocabulary, and the three sequences must be as long as each other.
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "datasets/wordpiece.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

void check_encoding(const dg::data::WordPieceTokenizer& tok, const dg::data::WordPieceEncoding& e,
                    int64_t max_length) {
  if (e.input_ids.size() != e.token_type_ids.size() ||
      e.input_ids.size() != e.attention_mask.size())
    std::abort();
  if (max_length > 0 && static_cast<int64_t>(e.input_ids.size()) > max_length) std::abort();
  for (int64_t id : e.input_ids)
    if (id < 0 || id >= tok.vocab_size()) std::abort();
  (void)tok.decode(e.input_ids, true);
}

const dg::data::WordPieceTokenizer& fixed_vocabulary(bool lower_case) {
  static const std::vector<std::string> tokens = {
      "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "##s", "a", "##a", "caf", "##e", ".",
      ",", "'", "un", "##aff", "##able", "\xC3\xA9", "##\xC3\xA9", "\xE4\xB8\xAD", "##\xE6\x96\x87"};
  static const dg::data::WordPieceTokenizer uncased(tokens, {true, true, 100}, "fuzz");
  static const dg::data::WordPieceTokenizer cased(tokens, {false, true, 100}, "fuzz");
  return lower_case ? uncased : cased;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  try {
    if (mode & 1) {
      const std::string path = dg::fuzz::write_input(data + 1, size - 1, "vocab.txt");
      const dg::data::WordPieceTokenizer tok = dg::data::WordPieceTokenizer::load(path);
      check_encoding(tok, tok.encode("Don't stop, caf\xC3\xA9 [SEP] the end."), 0);
    } else {
      const dg::data::WordPieceTokenizer& tok = fixed_vocabulary((mode & 2) == 0);
      const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
      dg::data::EncodeOptions options;
      options.max_length = (mode >> 2) == 0 ? 0 : 2 + (mode >> 2);
      options.padding = options.max_length > 0 ? dg::data::Padding::max_length
                                               : dg::data::Padding::longest;
      const size_t cut = text.find('\x01');
      if (cut == std::string_view::npos)
        check_encoding(tok, tok.encode(text, options), options.max_length);
      else
        check_encoding(tok, tok.encode(text.substr(0, cut), text.substr(cut + 1), options),
                       options.max_length);
    }
  } catch (const dg::Error&) {
  }
  return 0;
}
