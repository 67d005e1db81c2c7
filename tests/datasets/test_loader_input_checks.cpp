// Bad data the loaders used to accept silently or mishandle, each now an error or a documented
// normalisation: gzip trailers that ask for gigabytes, empty CIFAR batches, non-finite STS-B
// targets, labels with trailing spaces, a UTF-8 byte-order mark before a header, and text that is
// not UTF-8.
#include <catch2/catch.hpp>

#include "datasets/cifar.h"
#include "datasets/glue_tsv.h"
#include "datasets/idx.h"
#include "datasets/io.h"
#include "datasets/wordnet.h"
#include "tests/datasets/data_test_util.h"

using namespace dg;
using namespace dg::data;
using Catch::Contains;

TEST_CASE("gunzip never reserves more than deflate can expand the input to", "[datasets][gzip]") {
  // An 8-byte .gz whose trailer claims 4 GiB used to allocate 4 GiB before failing.
  CHECK(gunzip_initial_capacity(8, 0xFFFFFFFFu) <= 8 * kMaxDeflateExpansion);
  CHECK(gunzip_initial_capacity(0, 0xFFFFFFFFu) == 1);
  CHECK(gunzip_initial_capacity(1000, 4999) == 5000);  // an honest ISIZE is used as it is

  test::TempDir dir;
  const std::vector<uint8_t> tiny{0x1f, 0x8b, 8, 0, 0xff, 0xff, 0xff, 0xff};
  test::write_bytes(dir.file("tiny.gz"), tiny);
  CHECK_THROWS_WITH(read_idx_images(dir.file("tiny.gz")), Contains("gzip"));

  // A highly compressible stream (ratio near deflate's limit) still decodes in full: the buffer
  // grows as the data arrives.
  const std::vector<uint8_t> zeros(4 << 20, 0);
  const std::vector<uint8_t> packed = gzip(zeros);
  CHECK(packed.size() * kMaxDeflateExpansion >= zeros.size());
  CHECK(gunzip(packed, "test", "zeros.gz") == zeros);
  // The same stream with its trailer's ISIZE changed: zlib's length check rejects it.
  std::vector<uint8_t> lying = packed;
  lying[lying.size() - 1] ^= 0x80;
  CHECK_THROWS_WITH(gunzip(lying, "test", "lying.gz"), Contains("not valid gzip data"));
  // Cut anywhere: truncated.
  const std::vector<uint8_t> cut(packed.begin(), packed.begin() + packed.size() / 2);
  CHECK_THROWS_WITH(gunzip(cut, "test", "cut.gz"), Contains("truncated gzip file"));
}

TEST_CASE("cifar10: an empty batch file is an error, not an empty data set", "[datasets][cifar]") {
  test::TempDir dir;
  test::write_bytes(dir.file("data_batch_1.bin"), {});
  CHECK_THROWS_WITH(read_cifar10_binary({dir.file("data_batch_1.bin")}),
                    Contains("data_batch_1.bin' is empty (0 bytes)"));
}

namespace {

TextDataset read_sts(const std::string& path) {
  GlueTsvOptions options;
  options.text_columns = {"sentence1", "sentence2"};
  options.label_column = "score";
  options.regression = true;
  return read_glue_tsv(path, options);
}

TextDataset read_sst(const std::string& path) {
  GlueTsvOptions options;
  options.text_columns = {"sentence"};
  options.label_column = "label";
  return read_glue_tsv(path, options);
}

}  // namespace

TEST_CASE("glue_tsv: STS-B targets must be finite", "[datasets][glue]") {
  test::TempDir dir;
  for (const char* bad : {"nan", "NaN", "inf", "-inf", "infinity"}) {
    test::write_text(dir.file("sts.tsv"),
                     std::string("sentence1\tsentence2\tscore\na\tb\t1.5\nc\td\t") + bad + "\n");
    CHECK_THROWS_WITH(read_sts(dir.file("sts.tsv")),
                      Contains("line 3") && Contains(std::string("'") + bad + "' is not finite"));
  }
  test::write_text(dir.file("sts.tsv"), "sentence1\tsentence2\tscore\na\tb\t 2.5 \n");
  CHECK(read_sts(dir.file("sts.tsv")).examples[0].value == 2.5);  // spaces around are dropped
}

TEST_CASE("glue_tsv: spaces around a label do not make a new class", "[datasets][glue]") {
  test::TempDir dir;
  test::write_text(dir.file("sst.tsv"), "sentence\tlabel\ngood\t1\nbad\t0 \nfine\t 1\n");
  const TextDataset data = read_sst(dir.file("sst.tsv"));
  CHECK(data.class_names == std::vector<std::string>{"0", "1"});  // was {"0 ", " 1", "1"}
  CHECK(data.examples[1].label == 0);
  CHECK(data.examples[2].label == 1);
  test::write_text(dir.file("blank.tsv"), "sentence\tlabel\ngood\t  \n");
  CHECK_THROWS_WITH(read_sst(dir.file("blank.tsv")), Contains("line 2: empty label"));
}

TEST_CASE("glue_tsv: a UTF-8 byte-order mark before the header is dropped", "[datasets][glue]") {
  test::TempDir dir;
  test::write_text(dir.file("bom.tsv"), "\xEF\xBB\xBFsentence\tlabel\ncaf\xC3\xA9\t1\n");
  const TextDataset data = read_sst(dir.file("bom.tsv"));  // was "no column 'sentence'"
  REQUIRE(data.size() == 1);
  CHECK(data.examples[0].texts[0] == "caf\xC3\xA9");
}

TEST_CASE("text readers reject bytes that are not UTF-8, naming line and offset",
          "[datasets][glue][wordnet]") {
  test::TempDir dir;
  // Latin-1 "café" on line 3.
  test::write_text(dir.file("latin1.tsv"), "sentence\tlabel\nok\t1\ncaf\xE9\t0\n");
  CHECK_THROWS_WITH(read_sst(dir.file("latin1.tsv")),
                    Contains("line 3: byte 23 (0xE9) is not valid UTF-8"));
  for (const std::string& bad : {std::string("\xC0\xAF"), std::string("\xED\xA0\x80"),
                                 std::string("\xF4\x90\x80\x80"), std::string("\xE2\x82"),
                                 std::string("\xFF")}) {
    test::write_text(dir.file("bad.tsv"), "sentence\tlabel\nx" + bad + "\t1\n");
    CHECK_THROWS_WITH(read_sst(dir.file("bad.tsv")), Contains("is not valid UTF-8"));
  }
  // Valid multi-byte text of every length passes.
  test::write_text(dir.file("ok.tsv"), "sentence\tlabel\n\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\t1\n");
  CHECK(read_sst(dir.file("ok.tsv")).size() == 1);

  WordNetOptions wn;
  wn.path = dir.file("data.noun");
  test::write_text(wn.path, "00001740 03 n 01 entity 0 000 | caf\xE9 au lait\n");
  CHECK_THROWS_WITH(read_wordnet_glosses(wn), Contains("wordnet") && Contains("not valid UTF-8"));
}
