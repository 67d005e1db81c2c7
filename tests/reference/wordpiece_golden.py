#!/usr/bin/env python3
"""Golden data for datasets/wordpiece.*: what Hugging Face's reference BERT tokenizer (the slow,
pure-Python BertTokenizer: BasicTokenizer + WordpieceTokenizer) gives for awkward sentences and
sentence pairs on the real uncased vocabulary of all-MiniLM-L6-v2 (do_lower_case=True).
tests/datasets/test_wordpiece.cpp replays every case and must agree exactly.

Made with: Python 3.11.7 (unicodedata 14.0.0), transformers 4.40.2, tokenizers 0.19.1 (not used:
the slow tokenizer is pure Python). Regenerate (scripts/fetch-model.sh installs the vocabulary):

    /opt/hf/bin/python tests/reference/wordpiece_golden.py \
        /root/.cache/dyngrad/models/all-MiniLM-L6-v2/vocab.txt > tests/reference/wordpiece_golden.txt

Format: records separated by a blank line, one "key value" per line. Strings are JSON strings in
which every character that is not a letter, number, punctuation mark, symbol or the ASCII space is
written as a \\u escape, so tabs, controls and odd spaces are visible. Keys:
  case NAME / kind single|pair|batch
  lower_case 0: the case ran with do_lower_case=False (a cased model's setting; otherwise True)
  text, text_a, text_b: the inputs (a batch repeats row_a and, for pairs, row_b once per row)
  max_length N (0: none) / padding none|longest|max_length (truncation is on whenever N > 0,
  HF's default "longest_first")
  tokens: tokenizer.tokenize(text), space separated
  input_ids, token_type_ids, attention_mask: one line per row
  decode: tokenizer.decode(input_ids) (skip_special_tokens=False, clean_up_tokenization_spaces=True)
"""
import json
import sys
import unicodedata

import tokenizers
import transformers
from transformers import BertTokenizer


def visible(s):
    """A JSON string with every non-printing character escaped (see the format above)."""
    out = ['"']
    for ch in s:
        cat = unicodedata.category(ch)
        if ch == '"' or ch == '\\':
            out.append('\\' + ch)
        elif ch == ' ' or (cat[0] in 'LNPS' and ord(ch) >= 0x20):
            out.append(ch)
        elif ord(ch) > 0xFFFF:
            v = ord(ch) - 0x10000
            out.append('\\u%04x\\u%04x' % (0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF)))
        else:
            out.append('\\u%04x' % ord(ch))
    out.append('"')
    text = ''.join(out)
    assert json.loads(text) == s
    return text


SINGLES = [
    ('plain', 'The quick brown fox jumps over the lazy dog.'),
    ('accents', 'Café, naïve Ångström résumé — déjà vu!'),
    ('accents_upper', 'CAFÉ NAÏVE ÅNGSTRÖM RÉSUMÉ'),
    ('decomposed_accents', 'cafe\u0301 nai\u0308ve'),
    ('mixed_case', 'HeLLo WoRLD, iPhone McDonald\'s eBay'),
    ('punctuation_runs', 'Wait... what?!?! (yes) [no] {maybe} <tag> ***stars*** ---'),
    ('numbers', 'Pi is 3.14159, e is 2.71828; 1,000,000 people in 2023 paid $19.99 or 50%.'),
    ('url_email', 'Visit https://www.example.com/path?q=1&x=y#frag or mail john.doe@example.org'),
    ('apostrophes', "Don't won't it's rock'n'roll ’curly’ ‘quotes’ “double”"),
    ('hyphens', 'state-of-the-art well‐known – en dash — em dash non-breaking‑hyphen'),
    ('rare_words', 'Supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopic'),
    ('unknown_symbols', 'I ♥ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ⅷ ⓐ ™ © ® ¶ § ∑ ∞ ≠'),
    ('word_100_chars', 'a' * 100),
    ('word_101_chars', 'start ' + 'b' * 101 + ' end'),
    ('accented_101_after_strip', 'é' * 101),
    ('accented_60', 'é' * 60),
    ('cjk', '我喜欢自然语言处理。東京は日本の首都です'),
    ('cjk_mixed', 'BERT模型很好abc中文def'),
    ('hangul_kana', '안녕하세요 カタカナ ひらがな'),
    ('cjk_compatibility', '\uf900\uf901 \U0002f800'),
    ('emoji', 'I love pizza 🍕🍕 and 😀😂👍🏽 👨‍👩‍👧 flags 🇫🇷'),
    ('control_chars', 'bell\x07here\x00nul\x1bescape\x7fdel\u200bzwsp\ufeffbom\ufffdreplacement'),
    ('tabs_newlines', 'tab\there\nnewline\r\ncrlf\x0bvtab\x0cformfeed\x85nel'),
    ('nbsp_spaces', 'non\u00a0breaking\u2003em\u3000ideographic\u202fnarrow\u2028line\u2029para'),
    ('greek', 'Η γρήγορη καφέ αλεπού ΟΔΟΣ Σίσυφος'),
    ('cyrillic', 'Съешь же ещё этих мягких французских булок, да выпей чаю. ЁЛКА'),
    ('arabic_hebrew', 'مرحبا بالعالم שָׁלוֹם עולם'),
    ('devanagari', 'नमस्ते दुनिया हिन्दी'),
    ('turkish_i', 'İstanbul IŞIK ıı'),
    ('german', 'Straße Größe ÜBER Maß ẞ'),
    ('ligatures', 'ﬁnance ﬂower Ǆ ǅ ǆ ½ ² ℃ Ⅻ'),
    ('empty', ''),
    ('only_spaces', '     '),
    ('only_whitespace_mix', ' \t\n\u00a0\u3000 '),
    ('special_tokens_in_text', 'hello [SEP] world [MASK] x[CLS]y [cls] [UNK]'),
    ('math_and_code', 'f(x) = x^2 + 2*x; if (a <= b && c != d) { return a->b; } // comment'),
    ('hashtags_mentions', '#MachineLearning @user123 ##double'),
    ('combining_only', 'a \u0301\u0302 b \u20dd c'),
    ('long_sentence', 'In 1905, Albert Einstein published four groundbreaking papers that changed physics forever, including special relativity and the photoelectric effect.'),
    ('spanish_french', '¿Dónde está el baño? Ça coûte 5€. L\'œuvre d\'art.'),
    ('vietnamese', 'Tiếng Việt có dấu rất nhiều'),
    ('fullwidth', 'ＡＢＣ１２３！？'),
    ('repeated_word', 'ha' * 40 + ' hahaha'),
]

# A cased tokenizer (do_lower_case=False, so no lower-casing and no accent stripping) on the same
# vocabulary: upper-case words mostly become [UNK] or pieces, which still exercises that path.
SINGLES_CASED = [
    ('cased_accents', 'Café naïve résumé cafe\u0301'),
    ('cased_mixed', 'Hello World, the end. ΟΔΟΣ İstanbul'),
    ('cased_special_tokens', 'a [SEP] b [sep]'),
]

PAIRS = [
    ('pair_short', 'How old are you?', 'I am six years old.', 0, 'none'),
    ('pair_pad', 'A man is playing a guitar.', 'Someone plays music.', 24, 'max_length'),
    ('pair_truncate_first_longer', 'The quick brown fox jumps over the lazy dog near the river bank today.', 'A fox.', 12, 'max_length'),
    ('pair_truncate_second_longer', 'Short one.', 'This second sentence is considerably longer than the first one, by a lot.', 12, 'max_length'),
    ('pair_truncate_equal', 'one two three four five six', 'seven eight nine ten eleven twelve', 9, 'max_length'),
    ('pair_truncate_odd', 'alpha beta gamma delta epsilon', 'zeta eta theta iota kappa lambda', 10, 'none'),
    ('pair_truncate_to_min', 'some words here', 'other words there', 3, 'max_length'),
    ('pair_empty_second', 'Only the first sentence is here.', '', 16, 'max_length'),
    ('pair_empty_both', '', '', 8, 'max_length'),
    ('pair_accents_cjk', 'Café au lait, s\'il vous plaît.', '我喜欢咖啡 ☕', 14, 'max_length'),
    ('pair_long_word', 'x' * 120 + ' tail', 'naïve résumé', 32, 'max_length'),
    ('single_truncate', 'This single sentence will be cut to a few tokens by truncation.', None, 8, 'max_length'),
    ('single_pad', 'Pad me.', None, 10, 'max_length'),
]

BATCHES = [
    ('batch_singles_longest', ['Hello world!', 'A somewhat longer sentence, with commas.', ''], None, 0, 'longest'),
    ('batch_pairs_longest', ['Is this a question?', 'Yes.'], ['It is a question.', 'No, it is a much longer answer that says no.'], 16, 'longest'),
    ('batch_pairs_max_length', ['Café', 'The second row'], ['naïve', 'is here'], 12, 'max_length'),
]


def pad_arg(padding):
    return {'none': False, 'longest': 'longest', 'max_length': 'max_length'}[padding]


def encode(tok, a, b, max_length, padding):
    kwargs = dict(padding=pad_arg(padding))
    if max_length:
        kwargs.update(max_length=max_length, truncation='longest_first')
    return tok(a, b, **kwargs) if b is not None else tok(a, **kwargs)


def ints(xs):
    return ' '.join(str(x) for x in xs)


def main():
    vocab = sys.argv[1]
    tok = BertTokenizer(vocab, do_lower_case=True)
    assert not tok.is_fast
    out = [
        '# Hugging Face BertTokenizer (slow) on the all-MiniLM-L6-v2 vocab.txt, do_lower_case=True.',
        '# transformers %s, tokenizers %s, Python %s, unicodedata %s. Generated by'
        % (transformers.__version__, tokenizers.__version__, sys.version.split()[0],
           unicodedata.unidata_version),
        '# tests/reference/wordpiece_golden.py (the format is described there); do not edit by hand.',
        '',
    ]
    for name, text in SINGLES:
        enc = tok(text)
        out += ['case ' + name, 'kind single', 'text ' + visible(text),
                'tokens ' + ' '.join(tok.tokenize(text)), 'input_ids ' + ints(enc['input_ids']),
                'decode ' + visible(tok.decode(enc['input_ids'])), '']
    cased = BertTokenizer(vocab, do_lower_case=False)
    for name, text in SINGLES_CASED:
        enc = cased(text)
        out += ['case ' + name, 'kind single', 'lower_case 0', 'text ' + visible(text),
                'tokens ' + ' '.join(cased.tokenize(text)), 'input_ids ' + ints(enc['input_ids']),
                'decode ' + visible(cased.decode(enc['input_ids'])), '']
    for name, a, b, max_length, padding in PAIRS:
        enc = encode(tok, a, b, max_length, padding)
        out += ['case ' + name, 'kind ' + ('pair' if b is not None else 'single'),
                'text_a ' + visible(a)]
        if b is not None:
            out.append('text_b ' + visible(b))
        out += ['max_length %d' % max_length, 'padding ' + padding,
                'input_ids ' + ints(enc['input_ids']),
                'token_type_ids ' + ints(enc['token_type_ids']),
                'attention_mask ' + ints(enc['attention_mask']), '']
    for name, rows_a, rows_b, max_length, padding in BATCHES:
        enc = encode(tok, rows_a, rows_b, max_length, padding)
        out += ['case ' + name, 'kind batch']
        for i, a in enumerate(rows_a):
            out.append('row_a ' + visible(a))
            if rows_b is not None:
                out.append('row_b ' + visible(rows_b[i]))
        out += ['max_length %d' % max_length, 'padding ' + padding]
        for key in ('input_ids', 'token_type_ids', 'attention_mask'):
            out += ['%s %s' % (key, ints(row)) for row in enc[key]]
        out.append('')
    sys.stdout.write('\n'.join(out))


if __name__ == '__main__':
    main()
