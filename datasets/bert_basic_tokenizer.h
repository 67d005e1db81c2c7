// The first half of BERT's tokenizer: "basic tokenization", which turns UTF-8 text into words
// before WordPiece splits the words into vocabulary pieces (datasets/wordpiece.h). It follows
// Hugging Face's reference BasicTokenizer (transformers 4.40, the pure-Python one) step by step,
// because a pretrained BERT only understands the pieces its own tokenizer produced:
//   1. clean: drop NUL, U+FFFD and every character of a C* category (controls, format
//      characters, unassigned and private-use code points) except tab, newline and carriage return;
//      turn tab, newline, carriage return and every Zs space into " ";
//   2. put a space on each side of every CJK ideograph (the code point ranges of HF's
//      _is_chinese_char), so each ideograph becomes a word of its own;
//   3. NFC-normalise, then split at whitespace (Python's str.split(): the Zs spaces, U+2028,
//      U+2029, U+001C..U+001F, U+0085 and ASCII whitespace);
//   4. when lower_case: lower-case each word (Python's str.lower(), one character at a time,
//      see below) and strip accents (NFD, then drop the Mn marks; Mc and Me marks stay);
//   5. split each word after and before every punctuation character (ASCII punctuation, and
//      every character of a P* category), each punctuation character a word of its own.
// Character data comes from utf8proc (Debian: libutf8proc-dev), which implements Unicode 15.0;
// Python 3.11's unicodedata is Unicode 14.0, so code points first assigned in 15.0 (CJK
// Extension H, U+31350..U+323AF, Kawi, ...) are kept here where HF drops them as unassigned; over
// every code point, those 4,447 are the only ones tokenized differently (docs/architecture.md).
//
// Lower-casing is Python's: each code point's lower-case mapping, with U+0130 (capital I with
// dot) becoming "i" + U+0307 (which accent stripping then drops). Hugging Face lower-cases the
// whole text one character at a time before it reaches the basic tokenizer, so a final capital
// sigma becomes "σ", never "ς"; so does this.
//
// Input is bytes, so it must be UTF-8: anything else (a stray Latin-1 byte, an overlong or
// surrogate encoding, a truncated sequence) is a dg::Error giving the byte offset, as Python's
// strict UTF-8 decoding of the same bytes would fail, rather than a silent replacement.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dg::data {

struct BertBasicOptions {
  bool lower_case = true;    // lower-case and strip accents (an "uncased" model)
  bool tokenize_cjk = true;  // step 2 above
};

// Unicode character classes exactly as Hugging Face's BERT tokenizer defines them.
namespace bert_text {
bool is_control(char32_t c);          // step 1: dropped
bool is_clean_whitespace(char32_t c); // step 1: becomes " "
bool is_python_space(char32_t c);     // step 3: Python's str.isspace()
bool is_cjk(char32_t c);              // step 2
bool is_punctuation(char32_t c);      // step 5

// UTF-8 to code points; malformed input is a dg::Error naming `what` and the byte offset.
std::u32string decode_utf8(std::string_view text, std::string_view what);
std::string encode_utf8(std::u32string_view text);
// Python's str.lower(), one code point at a time (no final-sigma context; see the header).
std::u32string lower(std::u32string_view text);
std::u32string nfc(std::u32string_view text);
// NFD, then every Mn (non-spacing mark) code point removed.
std::u32string strip_accents(std::u32string_view text);
}  // namespace bert_text

// Steps 1-5 on `text` (UTF-8): the words, each UTF-8.
std::vector<std::string> bert_basic_tokenize(std::string_view text,
                                             const BertBasicOptions& options = {});

}  // namespace dg::data
