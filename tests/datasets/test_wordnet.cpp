// WordNet gloss classification: parsing a data.noun snippet written here (license header,
// lexicographer files, glosses), the noun.Tops option, malformed lines, the seeded split, and the
// real file from wordnet-base when installed.
#include <catch2/catch.hpp>
#include <set>

#include "datasets/wordnet.h"
#include "tests/datasets/data_test_util.h"

using namespace dg;
using namespace dg::data;

namespace {

// The first lines of WordNet 3.0's data.noun (license header abridged) plus synsets of other files.
const char* kSnippet =
    "  1 This software and database is being provided to you, the LICENSEE, by  \n"
    "  2 Princeton University under the following license.  \n"
    "  3   \n"
    "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 ~ 00002137 n 0000 ~ 04424418 n 0000 | that "
    "which "
    "is perceived or known or inferred to have its own distinct existence (living or nonliving)  \n"
    "00002452 03 n 01 thing 0 009 @ 00001930 n 0000 | a separate and self-contained entity  \n"
    "00015388 05 n 02 animal 0 animate_being 0 039 @ 00004475 n 0000 | a living organism "
    "characterized "
    "by voluntary movement  \n"
    "02958343 06 n 05 car 0 auto 0 automobile 0 machine 0 motorcar 0 054 @ 03791235 n 0000 | a "
    "motor "
    "vehicle with four wheels; usually propelled by an internal combustion engine; \"he needs a "
    "car "
    "to get to work\"  \n"
    "15113229 28 n 01 time 0 005 @ 00028270 n 0000 | the continuum of experience in which events "
    "pass "
    "from the future through the present to the past  \n";

}  // namespace

TEST_CASE("wordnet: synset lines become (gloss, supersense) examples", "[datasets][wordnet]") {
  test::TempDir dir;
  test::write_text(dir.file("data.noun"), kSnippet);
  WordNetOptions options;
  options.path = dir.file("data.noun");

  const TextDataset all = read_wordnet_glosses(options);
  REQUIRE(all.size() == 5);
  CHECK(all.num_classes() == 26);
  CHECK(all.class_names.front() == "noun.Tops");
  CHECK(all.class_names[3] == "noun.artifact");
  CHECK(all.class_names.back() == "noun.time");
  CHECK(all.examples[0].texts ==
        std::vector<std::string>{"that which is perceived or known or inferred to have its own "
                                 "distinct existence (living or nonliving)"});
  CHECK(all.examples[0].label == 0);  // 03 noun.Tops
  CHECK(all.examples[2].label == 2);  // 05 noun.animal
  CHECK(all.examples[3].label == 3);  // 06 noun.artifact
  CHECK(
      all.examples[3].texts[0] ==
      "a motor vehicle with four wheels; usually propelled by an internal combustion engine; \"he "
      "needs a car to get to work\"");
  CHECK(all.examples[4].label == 25);  // 28 noun.time

  options.include_tops = false;
  const TextDataset no_tops = read_wordnet_glosses(options);
  REQUIRE(no_tops.size() == 3);
  CHECK(no_tops.num_classes() == 25);
  CHECK(no_tops.class_names.front() == "noun.act");
  CHECK(no_tops.examples[0].label == 1);  // noun.animal is id 1 without noun.Tops
  CHECK(no_tops.examples[2].label == 24);
}

TEST_CASE("wordnet: malformed lines and a missing file are clear errors", "[datasets][wordnet]") {
  test::TempDir dir;
  WordNetOptions options;
  options.path = dir.file("data.noun");
  test::write_text(options.path, std::string(kSnippet) + "00099999 xx n 01 broken 0 000 | gloss\n");
  CHECK_THROWS_WITH(read_wordnet_glosses(options),
                    Catch::Contains("line 9") && Catch::Contains("not a synset line"));
  test::write_text(options.path, "00099999 31 n 01 run 0 000 | a verb file number\n");
  CHECK_THROWS_WITH(read_wordnet_glosses(options),
                    Catch::Contains("lexicographer file 31 is not a noun file"));
  test::write_text(options.path, "00099999 05 n 01 no_gloss 0 000\n");
  CHECK_THROWS_WITH(read_wordnet_glosses(options), Catch::Contains("line 1"));

  options.path = dir.file("missing/data.noun");
  CHECK_THROWS_WITH(read_wordnet_glosses(options),
                    Catch::Contains(options.path) && Catch::Contains("wordnet-base"));
  CHECK_FALSE(wordnet_available(options.path));
}

TEST_CASE("wordnet: the split is seeded, disjoint and complete", "[datasets][wordnet]") {
  test::TempDir dir;
  std::string text;
  for (int i = 0; i < 50; ++i)
    text += fmt::format("{:08d} {:02d} n 01 w{} 0 000 | gloss number {}  \n", 1000 + i, 3 + i % 26,
                        i, i);
  test::write_text(dir.file("data.noun"), text);
  WordNetOptions options;
  options.path = dir.file("data.noun");

  const TextSplits a = wordnet_gloss_splits(options);
  CHECK(a.train.size() == 40);
  CHECK(a.validation.size() == 5);
  CHECK(a.test.size() == 5);
  std::set<std::string> seen;
  for (const TextDataset* part : {&a.train, &a.validation, &a.test})
    for (const TextExample& e : part->examples) seen.insert(e.texts[0]);
  CHECK(seen.size() == 50);

  const TextSplits b = wordnet_gloss_splits(options);
  for (int64_t i = 0; i < a.test.size(); ++i)
    CHECK(a.test.examples[i].texts == b.test.examples[i].texts);
  options.split_seed += 1;
  const TextSplits c = wordnet_gloss_splits(options);
  bool differs = false;
  for (int64_t i = 0; i < a.test.size(); ++i)
    differs |= a.test.examples[i].texts != c.test.examples[i].texts;
  CHECK(differs);
}

TEST_CASE("wordnet: the real data.noun from wordnet-base", "[datasets][wordnet][real]") {
  if (!wordnet_available()) {
    WARN("skipped: " << kWordNetNounPath << " not found (apt-get install wordnet-base)");
    return;
  }
  const TextSplits splits = wordnet_gloss_splits();
  // WordNet 3.0: 82115 noun synsets over all 26 noun lexicographer files (noun.Tops has 51).
  CHECK(splits.train.num_classes() == 26);
  CHECK(splits.train.size() == 65692);
  CHECK(splits.validation.size() == 8211);
  CHECK(splits.test.size() == 8212);
  std::set<int64_t> classes;
  int64_t empty_glosses = 0;
  for (const TextExample& e : splits.train.examples) {
    classes.insert(e.label);
    empty_glosses += e.texts[0].empty();
  }
  CHECK(classes.size() == 26);
  CHECK(empty_glosses == 0);

  WordNetOptions no_tops;
  no_tops.include_tops = false;
  const TextDataset all = read_wordnet_glosses(no_tops);
  CHECK(all.num_classes() == 25);
  CHECK(all.size() == 82115 - 51);
}
