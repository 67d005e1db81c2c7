// BERT's basic tokenization (see bert_basic_tokenizer.h): clean, space CJK ideographs, NFC,
// whitespace split, lower-case and strip accents, punctuation split, on code points, with the
// character data of utf8proc.
#include "datasets/bert_basic_tokenizer.h"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "engine/error.h"

namespace dg::data {
namespace bert_text {
namespace {

utf8proc_category_t category(char32_t c) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(c));
}

// `text` through utf8proc_map with `options` (a normalisation form). The input is valid by
// construction (it came out of decode_utf8), so a failure is a bug, reported as such.
std::u32string normalize(std::u32string_view text, int options) {
  const std::string utf8 = encode_utf8(text);
  utf8proc_uint8_t* mapped = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()),
                   static_cast<utf8proc_ssize_t>(utf8.size()), &mapped,
                   static_cast<utf8proc_option_t>(options));
  const std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(mapped, &std::free);
  check(n >= 0, "bert tokenizer: Unicode normalisation failed: {}", utf8proc_errmsg(n));
  return decode_utf8({reinterpret_cast<const char*>(mapped), static_cast<size_t>(n)},
                     "bert tokenizer (normalised text)");
}

}  // namespace

bool is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN: return true;
    default: return false;
  }
}

bool is_clean_whitespace(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || category(c) == UTF8PROC_CATEGORY_ZS;
}

bool is_python_space(char32_t c) {
  // CPython's _PyUnicode_IsWhitespace: bidirectional class WS, B or S, or category Zs.
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_cjk(char32_t c) {
  // The CJK Unified Ideographs blocks and extensions A-E and the compatibility ideographs, as
  // HF's _is_chinese_char (Hangul, kana and CJK punctuation are not ideographs).
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool is_punctuation(char32_t c) {
  // All non-letter, non-digit printable ASCII counts ("$", "^", "`" are symbols in Unicode).
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126))
    return true;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO: return true;
    default: return false;
  }
}

std::u32string decode_utf8(std::string_view text, std::string_view what) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      out.push_back(b);
      ++i;
      continue;
    }
    // The sequence length and the range its second byte must fall in (RFC 3629: no overlong
    // forms, no surrogates, nothing past U+10FFFF).
    size_t length = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) length = 2;
    else if (b == 0xE0) length = 3, lo = 0xA0;
    else if (b >= 0xE1 && b <= 0xEC) length = 3;
    else if (b == 0xED) length = 3, hi = 0x9F;
    else if (b >= 0xEE && b <= 0xEF) length = 3;
    else if (b == 0xF0) length = 4, lo = 0x90;
    else if (b >= 0xF1 && b <= 0xF3) length = 4;
    else if (b == 0xF4) length = 4, hi = 0x8F;
    bool valid = length != 0 && i + length <= text.size() &&
                 static_cast<unsigned char>(text[i + 1]) >= lo &&
                 static_cast<unsigned char>(text[i + 1]) <= hi;
    for (size_t k = 2; valid && k < length; ++k)
      valid = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    check(valid, "{}: byte {} (0x{:02X}) of the text is not valid UTF-8", what, i, b);
    char32_t c = b & (0xFF >> (length + 1));
    for (size_t k = 1; k < length; ++k) c = (c << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    out.push_back(c);
    i += length;
  }
  return out;
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

std::u32string lower(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c == 0x130) {  // the one unconditional multi-character lower-case mapping (SpecialCasing)
      out += U"i\u0307";
      continue;
    }
    out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
  }
  return out;
}

std::u32string nfc(std::u32string_view text) {
  return normalize(text, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
}

std::u32string strip_accents(std::u32string_view text) {
  // Not UTF8PROC_STRIPMARK: that also drops spacing (Mc) and enclosing (Me) marks, which HF keeps
  // (a Devanagari vowel sign is Mc).
  std::u32string out = normalize(text, UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
  std::erase_if(out, [](char32_t c) { return category(c) == UTF8PROC_CATEGORY_MN; });
  return out;
}

}  // namespace bert_text

std::vector<std::string> bert_basic_tokenize(std::string_view text,
                                             const BertBasicOptions& options) {
  using namespace bert_text;
  const std::u32string input = decode_utf8(text, "bert tokenizer");
  // 1 and 2: clean, and space the CJK ideographs.
  std::u32string cleaned;
  cleaned.reserve(input.size());
  for (char32_t c : input) {
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;
    if (is_clean_whitespace(c)) {
      cleaned.push_back(U' ');
    } else if (options.tokenize_cjk && is_cjk(c)) {
      cleaned.push_back(U' ');
      cleaned.push_back(c);
      cleaned.push_back(U' ');
    } else {
      cleaned.push_back(c);
    }
  }
  // 3-5, word by word.
  const std::u32string normalized = nfc(cleaned);
  std::vector<std::string> words;
  auto emit = [&](std::u32string_view piece) {
    // The pieces are joined by spaces and split again at whitespace (HF's last step), which
    // matters only if lower-casing or stripping made whitespace appear.
    size_t start = 0;
    for (size_t i = 0; i <= piece.size(); ++i) {
      if (i == piece.size() || is_python_space(piece[i])) {
        if (i > start) words.push_back(encode_utf8(piece.substr(start, i - start)));
        start = i + 1;
      }
    }
  };
  size_t i = 0;
  while (i < normalized.size()) {
    if (is_python_space(normalized[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < normalized.size() && !is_python_space(normalized[end])) ++end;
    std::u32string word(normalized, i, end - i);
    i = end;
    if (options.lower_case) word = strip_accents(lower(word));
    size_t start = 0;
    for (size_t k = 0; k < word.size(); ++k) {
      if (!is_punctuation(word[k])) continue;
      if (k > start) emit(std::u32string_view(word).substr(start, k - start));
      emit(std::u32string_view(word).substr(k, 1));
      start = k + 1;
    }
    if (start < word.size()) emit(std::u32string_view(word).substr(start));
  }
  return words;
}

}  // namespace dg::data
