// Bad-input catalogue rows for the file readers: corrupt, truncated, empty, non-UTF-8 and
// inconsistent IDX, gzip, CIFAR-10, GLUE TSV, WordNet, WordPiece vocab.txt, safetensors and image
// files. Each row
// writes its file into the case's scratch directory and reads it back.
#include <fstream>

#include "datasets/cifar.h"
#include "datasets/glue_tsv.h"
#include "datasets/idx.h"
#include "datasets/image_folder.h"
#include "datasets/io.h"
#include "datasets/text_task.h"
#include "datasets/wordnet.h"
#include "datasets/wordnet_graph.h"
#include "datasets/wordpiece.h"
#include "nn/checkpoint.h"
#include "tests/reliability/bad_input_registry.h"

namespace dg::test {
namespace {

using Dir = std::filesystem::path;
using Bytes = std::vector<uint8_t>;

std::string put(const Dir& dir, const std::string& name, const std::string& content) {
  const std::string path = (dir / name).string();
  std::filesystem::create_directories((dir / name).parent_path());
  std::ofstream(path, std::ios::binary) << content;
  return path;
}
std::string put(const Dir& dir, const std::string& name, const Bytes& b) {
  return put(dir, name, std::string(b.begin(), b.end()));
}

// An IDX image file header for n images of r x c, with `payload` pixel bytes after it.
Bytes idx3(uint32_t n, uint32_t r, uint32_t c, size_t payload) {
  Bytes b{0, 0, 0x08, 3};
  for (uint32_t v : {n, r, c})
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
  b.resize(b.size() + payload, 7);
  return b;
}
Bytes gz(const Bytes& b) { return data::gzip(b); }
Bytes cut(Bytes b, size_t keep) { b.resize(keep); return b; }

// A safetensors file: 8-byte little-endian header length, the JSON header, the data.
std::string safetensors(const std::string& header, size_t data_bytes) {
  std::string out;
  for (int k = 0; k < 8; ++k) out.push_back(static_cast<char>((header.size() >> (8 * k)) & 0xff));
  return out + header + std::string(data_bytes, '\0');
}

data::TextDataset sst(const std::string& path) {
  data::GlueTsvOptions o;
  o.text_columns = {"sentence"};
  o.label_column = "label";
  return data::read_glue_tsv(path, o);
}
data::TextDataset sts(const std::string& path) {
  data::GlueTsvOptions o;
  o.text_columns = {"sentence"};
  o.label_column = "score";
  o.regression = true;
  return data::read_glue_tsv(path, o);
}
data::TextDataset wordnet(const std::string& path) {
  data::WordNetOptions o;
  o.path = path;
  return data::read_wordnet_glosses(o);
}

#define ROW(var, name, expected, ...) \
  static RegisterBadInput var{name, expected, [](const Dir& dir) { __VA_ARGS__; }};

// ---- IDX and gzip
ROW(idx_missing, "idx: missing file", "no such file", data::read_idx_images((dir / "none").string()))
ROW(idx_short, "idx: 3-byte file", "is too short for an IDX header (3 bytes)", data::read_idx_images(put(dir, "a", Bytes{0, 0, 8})))
ROW(idx_magic, "idx: wrong magic", "does not start with the IDX magic", data::read_idx_images(put(dir, "a", Bytes{1, 2, 8, 3})))
ROW(idx_type, "idx: float data type", "MNIST-style files hold unsigned bytes", data::read_idx_images(put(dir, "a", Bytes{0, 0, 0x0D, 3})))
ROW(idx_dims, "idx: labels read as images", "has 1 dims; an IDX", data::read_idx_images(put(dir, "a", Bytes{0, 0, 8, 1, 0, 0, 0, 0})))
ROW(idx_header_cut, "idx: truncated header", "is truncated inside its header", data::read_idx_images(put(dir, "a", cut(idx3(1, 2, 2, 0), 9))))
ROW(idx_payload_cut, "idx: truncated pixels", "the file is truncated", data::read_idx_images(put(dir, "a", idx3(2, 2, 2, 5))))
ROW(idx_payload_long, "idx: extra bytes", "the file is longer than declared", data::read_idx_images(put(dir, "a", idx3(1, 2, 2, 9))))
ROW(idx_huge_dims, "idx: dims whose product is implausible", "declares an implausible size", data::read_idx_images(put(dir, "a", idx3(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))))
ROW(idx_wrapping_dims, "idx: dims whose product wraps past 2^64 to 0", "declares an implausible size (dims 131072x65536x2147483648)", data::read_idx_images(put(dir, "a", idx3(1u << 17, 1u << 16, 1u << 31, 0))))
ROW(gz_tiny, "gzip: 8-byte file whose trailer claims 4 GiB", "gzip", data::read_idx_images(put(dir, "a.gz", Bytes{0x1f, 0x8b, 8, 0, 0xff, 0xff, 0xff, 0xff})))
ROW(gz_cut, "gzip: truncated stream", "is a truncated gzip file", const Bytes g = gz(idx3(3, 4, 4, 48)); data::read_idx_images(put(dir, "a.gz", cut(g, g.size() / 2))))
ROW(gz_crc, "gzip: corrupt CRC", "is not valid gzip data", Bytes g = gz(idx3(3, 4, 4, 48)); g[g.size() - 6] ^= 1; data::read_idx_images(put(dir, "a.gz", g)))
ROW(gz_header, "gzip: bad compression method", "is not valid gzip data", Bytes g = gz(idx3(1, 1, 1, 1)); g[2] = 7; data::read_idx_images(put(dir, "a.gz", g)))

// ---- CIFAR-10 binary
ROW(cifar_empty, "cifar10: 0-byte batch", "is empty (0 bytes)", data::read_cifar10_binary({put(dir, "b.bin", "")}))
ROW(cifar_partial, "cifar10: partial record", "not a whole number of 3073-byte records", data::read_cifar10_binary({put(dir, "b.bin", std::string(3074, '\1'))}))
ROW(cifar_label, "cifar10: label byte 10", "label byte 10 is not in 0-9", data::read_cifar10_binary({put(dir, "b.bin", std::string(1, '\12') + std::string(3072, '\0'))}))
ROW(cifar_none, "cifar10: no files", "cifar10: no files given", data::read_cifar10_binary({}))

// ---- GLUE TSV
ROW(glue_empty, "glue_tsv: empty file", "is empty (expected a header row)", sst(put(dir, "t.tsv", "")))
ROW(glue_column, "glue_tsv: missing column", "has no column 'label' (columns: sentence, score)", sst(put(dir, "t.tsv", "sentence\tscore\na\t1\n")))
ROW(glue_ragged, "glue_tsv: ragged row", "line 3: 3 tab-separated fields, but the header has 2 columns", sst(put(dir, "t.tsv", "sentence\tlabel\na\t1\nb\t0\textra\n")))
ROW(glue_nan, "glue_tsv: STS-B target nan", "line 2: regression label 'nan' is not finite", sts(put(dir, "t.tsv", "sentence\tscore\na\tnan\n")))
ROW(glue_inf, "glue_tsv: STS-B target -inf", "regression label '-inf' is not finite", sts(put(dir, "t.tsv", "sentence\tscore\na\t-inf\n")))
ROW(glue_text_target, "glue_tsv: STS-B target not a number", "regression label 'high' is not a number", sts(put(dir, "t.tsv", "sentence\tscore\na\thigh\n")))
ROW(glue_empty_label, "glue_tsv: blank label", "line 2: empty label", sst(put(dir, "t.tsv", "sentence\tlabel\na\t \n")))
ROW(glue_latin1, "glue_tsv: Latin-1 text", "line 2: byte 18 (0xE9) is not valid UTF-8", sst(put(dir, "t.tsv", "sentence\tlabel\ncaf\xE9\t1\n")))
ROW(glue_unknown_class, "glue_tsv: label not among class_names", "label '2' is not one of the 2 given class names", data::GlueTsvOptions o; o.text_columns = {"sentence"}; o.label_column = "label"; o.class_names = {"0", "1"}; data::read_glue_tsv(put(dir, "t.tsv", "sentence\tlabel\na\t2\n"), o))

// ---- WordNet
ROW(wordnet_missing, "wordnet: missing file names the package", "wordnet-base", wordnet((dir / "data.noun").string()))
ROW(wordnet_line, "wordnet: not a synset line", "line 1: not a synset line", wordnet(put(dir, "data.noun", "hello world\n")))
ROW(wordnet_lexfile, "wordnet: verb lexicographer file", "lexicographer file 29 is not a noun file", wordnet(put(dir, "data.noun", "00001740 29 n 01 run 0 000 | to move fast\n")))
ROW(wordnet_gloss, "wordnet: empty gloss", "line 1: empty gloss", wordnet(put(dir, "data.noun", "00001740 03 n 01 entity 0 000 |   \n")))
ROW(wordnet_empty, "wordnet: no synsets", "holds no synsets", wordnet(put(dir, "data.noun", "  license header\n")))
ROW(wordnet_utf8, "wordnet: invalid UTF-8", "is not valid UTF-8", wordnet(put(dir, "data.noun", "00001740 03 n 01 entity 0 000 | \xC0\xAF\n")))
ROW(wordnet_graph_counts, "wordnet graph: p_cnt larger than the pointers", "2 pointers need 15 fields before '|', found 11", data::read_wordnet_graph(put(dir, "data.noun", "00001740 03 n 01 entity 0 002 @ 00001740 n 0000 | g\n")))
ROW(wordnet_graph_wcnt, "wordnet graph: w_cnt far past the line", "fewer fields than w_cnt words and p_cnt need", data::read_wordnet_graph(put(dir, "data.noun", "00001740 03 n ff entity 0 000 | g\n")))
ROW(wordnet_graph_dangling, "wordnet graph: hypernym to an undefined offset", "line 1: hypernym '@' pointer to 00000001, which no synset line", data::read_wordnet_graph(put(dir, "data.noun", "00001740 03 n 01 entity 0 001 @ 00000001 n 0000 | g\n")))
ROW(wordnet_graph_repeat, "wordnet graph: offset defined twice", "line 2: synset offset 00001740 already defined on line 1", data::read_wordnet_graph(put(dir, "data.noun", "00001740 03 n 01 a 0 000 | g\n00001740 03 n 01 b 0 000 | h\n")))
ROW(wordnet_graph_pos, "wordnet graph: pointer part of speech 'q'", "pos is not one of n v a s r", data::read_wordnet_graph(put(dir, "data.noun", "00001740 03 n 01 a 0 001 @ 00001740 q 0000 | g\n")))
ROW(text_task_unknown, "load_text_task: unknown task name", "unknown task 'imdb'", data::load_text_task("imdb"))
ROW(text_task_glue_name, "load_text_task: GLUE name without a task", "is not of the form glue:DIR:TASK", data::load_text_task("glue:" + dir.string()))
ROW(text_task_glue_task, "load_text_task: unknown GLUE task", "unknown GLUE task 'MNLI-X'", data::load_text_task("glue:" + dir.string() + ":MNLI-X"))
ROW(text_task_cap, "load_text_task: negative cap", "must be >= 0, got -3", data::TextTaskOptions o; o.wordnet.path = put(dir, "data.noun", "00001740 03 n 01 a 0 000 | g\n"); o.wordnet.max_test_examples = -3; data::load_text_task("wordnet-supersense", o))

// ---- WordPiece vocab.txt (BERT) and the text it tokenizes
ROW(vocab_missing_token, "wordpiece: vocab.txt without [SEP]", "has no '[SEP]' token", data::WordPieceTokenizer::load(put(dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\nhello\n")))
ROW(vocab_empty, "wordpiece: empty vocab.txt", "is empty", data::WordPieceTokenizer::load(put(dir, "vocab.txt", "")))
ROW(vocab_duplicate, "wordpiece: a token on two lines", "token 'hi' twice (lines 5 and 6)", data::WordPieceTokenizer::load(put(dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhi\nhi\n")))
ROW(vocab_long_line, "wordpiece: a 2000-byte line", "line 5 is 2000 bytes long", data::WordPieceTokenizer::load(put(dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n" + std::string(2000, 'x'))))
ROW(vocab_latin1, "wordpiece: Latin-1 vocab.txt", "is not valid UTF-8", data::WordPieceTokenizer::load(put(dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\ncaf\xE9\n")))
ROW(vocab_huge, "wordpiece: vocab.txt over 64 MiB (sparse)", "a vocab.txt is at most", const std::string p = put(dir, "vocab.txt", "[PAD]\n"); std::filesystem::resize_file(p, data::WordPieceTokenizer::kMaxVocabFileBytes + 1); data::WordPieceTokenizer::load(p))
ROW(wordpiece_text_utf8, "wordpiece: text not UTF-8", "byte 3 (0xFF) of the text is not valid UTF-8", data::WordPieceTokenizer(std::vector<std::string>{"[PAD]", "[UNK]", "[CLS]", "[SEP]"}).encode("abc\xFF"))
ROW(wordpiece_max_length, "wordpiece: max_length 2", "at least 3", data::EncodeOptions o; o.max_length = 2; data::WordPieceTokenizer(std::vector<std::string>{"[PAD]", "[UNK]", "[CLS]", "[SEP]"}).encode("a", o))

// ---- safetensors checkpoints
ROW(st_short, "safetensors: 4-byte file", "too few for the 8-byte header length", nn::load_safetensors(put(dir, "m.st", "abcd")))
ROW(st_header_past, "safetensors: header length past the end", "runs past the end of the file", nn::load_safetensors(put(dir, "m.st", std::string("\xff\x00\x00\x00\x00\x00\x00\x00{}", 10))))
ROW(st_json, "safetensors: header not JSON", "invalid JSON header", nn::load_safetensors(put(dir, "m.st", safetensors("{\"w\": [1, }", 0))))
ROW(st_dtype, "safetensors: unsupported dtype", "unsupported dtype 'F16'", nn::load_safetensors(put(dir, "m.st", safetensors(R"({"w":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})", 2))))
ROW(st_bytes, "safetensors: shape disagrees with byte count", "needs 8 bytes but its data_offsets [0, 4] span 4", nn::load_safetensors(put(dir, "m.st", safetensors(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4))))
ROW(st_past, "safetensors: offsets past the data", "past the end", nn::load_safetensors(put(dir, "m.st", safetensors(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 2))))
ROW(st_overlap, "safetensors: overlapping tensors", "overlaps tensor", nn::load_safetensors(put(dir, "m.st", safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8))))
ROW(st_bool, "safetensors: bool byte 2", "holds the byte 2 (expected 0 or 1)", std::string f = safetensors(R"({"m":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}})", 1); f.back() = 2; nn::load_safetensors(put(dir, "m.st", f)))
ROW(st_shape_huge, "safetensors: shape over 2^56 elements", "impossible shape", nn::load_safetensors(put(dir, "m.st", safetensors(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4))))

// ---- images and image folders
ROW(image_garbage, "load_image: not an image", "load_image: cannot decode", data::load_image(put(dir, "x.png", "this is not a png")))
ROW(image_png_cut, "load_image: truncated PNG", "is a corrupt PNG: chunk 'IHDR' at byte 8 declares 13 bytes but only 0 follow", data::load_image(put(dir, "x.png", Bytes{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'})))
ROW(image_bomb, "load_image: 33-byte PNG declaring 16000x16000 RGBA", "declares 16000x16000 pixels, more than its 33 bytes can encode", data::load_image(put(dir, "x.png", Bytes{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0x3e, 0x80, 0, 0, 0x3e, 0x80, 8, 6, 0, 0, 0, 0, 0, 0, 0})))
ROW(image_side, "load_image: PNG with a side past 16384", "load_image: cannot decode", data::load_image(put(dir, "x.png", Bytes{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 1, 0, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0, 0, 0, 0, 0})))
ROW(image_png_chunk, "load_image: PNG chunk declaring 2 GiB (stb would allocate it)", "chunk 'IDAT' at byte 33 declares 2147483632 bytes but only 4 follow", data::load_image(put(dir, "x.png", Bytes{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 2, 0, 0, 0, 2, 8, 2, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xf0, 'I', 'D', 'A', 'T', 1, 2, 3, 4})))
ROW(image_jpeg_dht, "load_image: JPEG Huffman table of 257 codes (stb 2.27 would write past its table)", "is a corrupt JPEG: a Huffman table of 257 codes (at most 256) at byte 6", data::load_image(put(dir, "x.jpg", Bytes{0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x13, 0x00, 0x80, 0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})))
ROW(folder_missing, "ImageFolder: not a directory", "is not a directory", data::ImageFolder((dir / "none").string()))
ROW(folder_no_classes, "ImageFolder: no class folders", "has no class sub-folders", data::ImageFolder(dir.string()))
ROW(folder_no_images, "ImageFolder: class folder without images", "holds no .png, .jpg, .jpeg or .bmp files", put(dir, "cat/readme.txt", "x"); data::ImageFolder(dir.string()))

#undef ROW

}  // namespace
}  // namespace dg::test
