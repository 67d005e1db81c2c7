// The WordNet synset graph and the three tasks built on it: parsing lemmas and hypernym pointers
// of a hand-written data.noun, path similarity on it against distances worked out by hand (with a
// case where NLTK's up-then-down path differs from the undirected shortest path), malformed lines,
// then the tasks on a generated tree whose distances the test computes on its own (heap layout:
// the lowest common ancestor by index arithmetic): positives are real links, negatives are not,
// labels balance, no synset crosses splits, targets match the distance and fill every bin; and
// the real data.noun when wordnet-base is installed.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <set>

#include "datasets/wordnet.h"
#include "datasets/wordnet_graph.h"
#include "datasets/wordnet_tasks.h"
#include "tests/datasets/data_test_util.h"

using namespace dg;
using namespace dg::data;

namespace {

// entity -- animal -- dog -- puppy          (dog also has the instance Rex, @i)
//        |         `- cat
//        `- tool -- hammer
// toy_dog has two hypernyms, dog and tool. root2 -- thing2 is a second hierarchy with no common
// ancestor with the first. Pointers of other kinds (~ hyponym, + to a verb, %p part) are skipped.
const char* kSmall =
    "  1 license header line\n"
    "00000100 03 n 01 entity 0 002 ~ 00000200 n 0000 ~ 00000600 n 0000 | the top\n"
    "00000200 05 n 02 animal 0 beast 0 002 @ 00000100 n 0000 + 01234567 v 0101 | a living thing\n"
    "00000300 05 n 02 dog 0 domestic_dog 1 001 @ 00000200 n 0000 | a barking animal  \n"
    "00000400 05 n 01 puppy 0 001 @ 00000300 n 0000 | a young dog\n"
    "00000500 05 n 01 cat 0 002 @ 00000200 n 0000 %p 00000300 n 0000 | a purring animal\n"
    "00000600 06 n 01 tool 0 001 @ 00000100 n 0000 | an implement\n"
    "00000700 06 n 01 hammer 0 001 @ 00000600 n 0000 | a tool for nails\n"
    "00000800 05 n 01 Rex 0 001 @i 00000300 n 0000 | a famous dog\n"
    "00000900 06 n 01 toy_dog 0 002 @ 00000300 n 0000 @ 00000600 n 0000 | a dog-shaped tool\n"
    "00001000 03 n 01 root2 0 000 | another top\n"
    "00001100 07 n 01 thing2 0 001 @ 00001000 n 0000 | under the other top\n";

struct Small {
  test::TempDir dir;
  std::string path;
  WordNetGraph graph;
  Small() {
    path = dir.file("data.noun");
    test::write_text(path, kSmall);
    graph = read_wordnet_graph(path);
  }
  int32_t at(uint32_t offset) const {
    const int32_t i = graph.index_of(offset);
    REQUIRE(i >= 0);
    return i;
  }
};

// A complete tree in heap layout: node 0 the root, children of i are kB*i + 1 .. kB*i + kB.
// Every child links to its parent with '@', except every fifth node with '@i'. The supersense of
// a node is that of its top-level subtree (05, 06, 07), the root's 03.
constexpr int kB = 3, kDepth = 6;
int tree_size() {
  int n = 0, level = 1;
  for (int d = 0; d <= kDepth; ++d, level *= kB) n += level;
  return n;
}
int parent_of(int i) { return (i - 1) / kB; }
int depth_of(int i) {
  int d = 0;
  for (; i > 0; i = parent_of(i)) ++d;
  return d;
}
int tree_distance(int a, int b) {  // up to the lowest common ancestor and down
  int d = 0;
  while (a != b) {
    if (depth_of(a) >= depth_of(b))
      a = parent_of(a);
    else
      b = parent_of(b);
    ++d;
  }
  return d;
}
int top_subtree(int i) {
  while (i > kB) i = parent_of(i);
  return i;
}
uint32_t tree_offset(int i) { return 10000000u + static_cast<uint32_t>(i); }

std::string tree_file() {
  std::string text = "  1 generated tree\n";
  for (int i = 0; i < tree_size(); ++i) {
    const int lex = i == 0 ? 3 : 4 + top_subtree(i);
    if (i == 0) {
      text += fmt::format("{:08d} {:02d} n 01 node{} 0 000 | gloss of node {}  \n", tree_offset(i),
                          lex, i, i);
    } else {
      text += fmt::format("{:08d} {:02d} n 01 node{} 0 001 {} {:08d} n 0000 | gloss of node {}  \n",
                          tree_offset(i), lex, i, i % 5 == 0 ? "@i" : "@",
                          tree_offset(parent_of(i)), i);
    }
  }
  return text;
}

// The tree node a gloss belongs to ("gloss of node 17" -> 17).
int node_of(const std::string& gloss) { return std::stoi(gloss.substr(gloss.rfind(' ') + 1)); }

WordNetTaskOptions tree_options(const std::string& path) {
  WordNetTaskOptions o;
  o.path = path;
  o.train_fraction = 0.5;  // larger validation and test splits than 80/10/10 for a small tree
  o.validation_fraction = 0.25;
  o.similarity_train_pairs = 200;
  o.similarity_validation_pairs = 50;
  o.similarity_test_pairs = 50;
  return o;
}

const std::vector<SynsetPair>& part(const SynsetPairSplits& s, int k) {
  return k == 0 ? s.train : k == 1 ? s.validation : s.test;
}
const std::vector<int32_t>& part(const SynsetSplit& s, int k) {
  return k == 0 ? s.train : k == 1 ? s.validation : s.test;
}

}  // namespace

TEST_CASE("wordnet_graph: lemmas, glosses, hypernym and instance-hypernym links",
          "[datasets][wordnet]") {
  Small s;
  const WordNetGraph& g = s.graph;
  REQUIRE(g.size() == 11);
  const WordNetSynset& dog = g.synsets[s.at(300)];
  CHECK(dog.lemmas == std::vector<std::string>{"dog", "domestic_dog"});
  CHECK(dog.gloss == "a barking animal");
  CHECK(dog.lex_file == 5);
  CHECK(dog.hypernyms == std::vector<int32_t>{s.at(200)});
  CHECK(dog.instance_hypernyms.empty());
  CHECK(g.synsets[s.at(800)].hypernyms.empty());
  CHECK(g.synsets[s.at(800)].instance_hypernyms == std::vector<int32_t>{s.at(300)});
  CHECK(g.synsets[s.at(900)].hypernyms == std::vector<int32_t>{s.at(300), s.at(600)});
  // cat's %p pointer to dog and animal's + pointer to a verb are not links.
  CHECK(g.synsets[s.at(500)].hypernyms == std::vector<int32_t>{s.at(200)});
  CHECK(g.synsets[s.at(100)].hypernyms.empty());
  // Hyponyms are the inverse of both kinds of link: dog's are puppy, Rex and toy_dog.
  std::vector<int32_t> under_dog = g.hyponyms[s.at(300)];
  std::sort(under_dog.begin(), under_dog.end());
  CHECK(under_dog == std::vector<int32_t>{s.at(400), s.at(800), s.at(900)});
  CHECK(g.index_of(12345678) == -1);
  CHECK(g.directly_linked(s.at(800), s.at(300)));
  CHECK(g.directly_linked(s.at(300), s.at(800)));
  CHECK_FALSE(g.directly_linked(s.at(400), s.at(200)));  // grandparent, not direct
  CHECK(g.is_ancestor(s.at(100), s.at(400)));
  CHECK_FALSE(g.is_ancestor(s.at(400), s.at(100)));
  CHECK_FALSE(g.is_ancestor(s.at(400), s.at(400)));
  CHECK_THROWS_WITH(g.path_distance(0, 11),
                    Catch::Contains("synset index 11 out of range [0, 11)"));
  CHECK_THROWS_WITH(g.directly_linked(-1, 0), Catch::Contains("synset index -1 out of range"));
}

TEST_CASE("wordnet_graph: NLTK path distance and similarity, worked by hand",
          "[datasets][wordnet]") {
  Small s;
  const WordNetGraph& g = s.graph;
  const auto dist = [&](uint32_t a, uint32_t b) { return g.path_distance(s.at(a), s.at(b)); };
  const auto sim = [&](uint32_t a, uint32_t b) { return g.path_similarity(s.at(a), s.at(b)); };
  CHECK(dist(300, 300) == 0);
  CHECK(sim(300, 300) == 1.0);
  CHECK(dist(300, 200) == 1);  // dog -> animal
  CHECK(sim(300, 200) == 0.5);
  CHECK(dist(300, 500) == 2);  // dog -> animal <- cat
  CHECK(*sim(300, 500) == Approx(1.0 / 3.0));
  CHECK(dist(400, 500) == 3);  // puppy -> dog -> animal <- cat
  CHECK(dist(400, 700) == 5);  // puppy -> dog -> animal -> entity <- tool <- hammer
  CHECK(*sim(400, 700) == Approx(1.0 / 6.0));
  CHECK(dist(800, 500) == 3);  // Rex -@i-> dog -> animal <- cat: instance links count
  CHECK(dist(100, 400) == 3);  // entity is puppy's ancestor at 3
  CHECK(dist(900, 700) == 2);  // toy_dog -> tool <- hammer (its second hypernym)
  CHECK(dist(900, 400) == 2);  // toy_dog -> dog <- puppy
  // dog and tool: undirected, dog <- toy_dog -> tool is 2 links, but it goes down and up again;
  // NLTK's distance goes up to a common ancestor only: dog -> animal -> entity <- tool, 3.
  CHECK(dist(300, 600) == 3);
  CHECK(*sim(300, 600) == Approx(0.25));
  // No common ancestor: no similarity (NLTK returns None for nouns of WordNet 3.0).
  CHECK_FALSE(dist(400, 1100).has_value());
  CHECK_FALSE(sim(1000, 100).has_value());
  CHECK(dist(1100, 1000) == 1);
  // Symmetric.
  for (int32_t a = 0; a < g.size(); ++a)
    for (int32_t b = 0; b < g.size(); ++b) CHECK(g.path_distance(a, b) == g.path_distance(b, a));
}

TEST_CASE("wordnet_graph: malformed lines, dangling and repeated offsets are clear errors",
          "[datasets][wordnet]") {
  test::TempDir dir;
  const std::string path = dir.file("data.noun");
  const auto error_for = [&](const std::string& text) -> std::string {
    test::write_text(path, text);
    try {
      read_wordnet_graph(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  const std::string ok = "00000100 03 n 01 entity 0 000 | the top\n";
  CHECK_THAT(
      error_for(ok + "00000200 05 n 02 dog 0 001 @ 00000100 n 0000 | one word short\n"),
      Catch::Contains("line 2") &&
          Catch::Contains("p_cnt, field 9 after 2 words, is not 3 decimal digits: '00000100'"));
  CHECK_THAT(error_for(ok + "00000200 05 n 01 dog 0 002 @ 00000100 n 0000 | one pointer short\n"),
             Catch::Contains("line 2") &&
                 Catch::Contains("1 words and 2 pointers need 15 fields before '|', found 11"));
  CHECK_THAT(error_for(ok + "00000200 05 n 01 dog 0 001 @ 100 n 0000 | short offset\n"),
             Catch::Contains("line 2") && Catch::Contains("synset_offset is not 8 digits"));
  CHECK_THAT(error_for(ok + "00000200 05 n 01 dog 0 001 @ 00000100 q 0000 | bad pos\n"),
             Catch::Contains("pos is not one of n v a s r"));
  CHECK_THAT(error_for(ok + "00000200 05 n 01 dog 0 001 @ 00000100 n 00zz | bad source\n"),
             Catch::Contains("source/target is not 4 hex digits"));
  CHECK_THAT(error_for(ok + "00000200 05 n 0g dog 0 000 | bad w_cnt\n"),
             Catch::Contains("w_cnt is not 2 hexadecimal digits"));
  CHECK_THAT(error_for(ok + "00000200 05 n 01 dog 0 1 | bad p_cnt\n"),
             Catch::Contains("p_cnt, field 7 after 1 words, is not 3 decimal digits: '1'"));
  CHECK_THAT(error_for(ok + "00000200 05 n 01 dog x 000 | bad lex_id\n"),
             Catch::Contains("lex_id is not 1 hexadecimal digit"));
  CHECK_THAT(error_for(ok + "00000200 05 v 01 run 0 000 | a verb\n"),
             Catch::Contains("ss_type is not 'n'"));
  CHECK_THAT(error_for(ok + "00000200 31 n 01 dog 0 000 | a verb file\n"),
             Catch::Contains("line 2") && Catch::Contains("lexicographer file 31 is not a noun"));
  CHECK_THAT(error_for(ok + "00000200 05 n 01 dog 0 000 no bar\n"),
             Catch::Contains("no '|' before the gloss"));
  CHECK_THAT(error_for(ok + "00000200 05 n 01 dog 0 000 |  \n"),
             Catch::Contains("line 2: empty gloss"));
  CHECK_THAT(error_for(ok + "00000200 05 n ff dog 0 000 | w_cnt past the line\n"),
             Catch::Contains("fewer fields than w_cnt words and p_cnt need"));
  CHECK_THAT(error_for(ok + "00000100 05 n 01 dog 0 000 | the same offset\n"),
             Catch::Contains("line 2: synset offset 00000100 already defined on line 1"));
  CHECK_THAT(
      error_for(ok + "\n00000200 05 n 01 dog 0 001 @i 00000999 n 0000 | dangling\n"),
      Catch::Contains("line 3: instance hypernym '@i' pointer to 00000999, which no synset"));
  CHECK_THAT(error_for("  only a header\n"), Catch::Contains("holds no synsets"));
  // A pointer of another kind may point anywhere: it is not followed.
  CHECK(error_for(ok + "00000200 05 n 01 dog 0 001 ~ 00000999 n 0000 | fine\n") == "no error");
  // A cycle (not in WordNet) cannot make the search loop.
  test::write_text(path,
                   "00000100 03 n 01 a 0 001 @ 00000200 n 0000 | a\n"
                   "00000200 03 n 01 b 0 001 @ 00000100 n 0000 | b\n");
  const WordNetGraph cycle = read_wordnet_graph(path);
  CHECK(cycle.path_distance(0, 1) == 1);
  CHECK(cycle.ancestor_distances(0).size() == 2);
}

TEST_CASE("wordnet_tasks: hypernym pairs are real links, negatives are not, balanced, no leak",
          "[datasets][wordnet]") {
  test::TempDir dir;
  test::write_text(dir.file("data.noun"), tree_file());
  const WordNetTaskOptions options = tree_options(dir.file("data.noun"));
  const WordNetGraph graph = read_wordnet_graph(options.path);
  REQUIRE(graph.size() == tree_size());
  const SynsetSplit split = wordnet_synset_split(graph, options);
  const SynsetPairSplits pairs = hypernym_pairs(graph, options);

  std::map<int32_t, int> split_of;
  for (int k = 0; k < 3; ++k)
    for (int32_t s : part(split, k)) split_of[s] = k;
  CHECK(split_of.size() == static_cast<size_t>(tree_size()));

  for (int k = 0; k < 3; ++k) {
    const std::vector<SynsetPair>& ps = part(pairs, k);
    // Every link with both ends in split k is a positive (no cap given).
    int64_t links_in_split = 0;
    for (int i = 1; i < tree_size(); ++i)
      links_in_split += split_of[graph.index_of(tree_offset(i))] == k &&
                        split_of[graph.index_of(tree_offset(parent_of(i)))] == k;
    int64_t positives = 0, hypernym_first = 0, same_supersense = 0;
    std::set<std::pair<int32_t, int32_t>> distinct;
    for (const SynsetPair& p : ps) {
      CHECK(split_of[p.first] == k);  // no synset from another split
      CHECK(split_of[p.second] == k);
      const int a = node_of(graph.synsets[p.first].gloss),
                b = node_of(graph.synsets[p.second].gloss);
      distinct.insert({std::min(a, b), std::max(a, b)});
      if (p.label == 1) {
        ++positives;
        CHECK(tree_distance(a, b) == 1);  // a direct link, by the tree's own arithmetic
        hypernym_first += parent_of(a) != b;
      } else {
        REQUIRE(p.label == 0);
        // Not linked at any distance: neither is an ancestor of the other.
        const int lca_distance = tree_distance(a, b);
        CHECK(lca_distance != std::abs(depth_of(a) - depth_of(b)));
        same_supersense += graph.synsets[p.first].lex_file == graph.synsets[p.second].lex_file;
      }
    }
    INFO("split " << k);
    CHECK(positives == links_in_split);
    CHECK(static_cast<int64_t>(ps.size()) == 2 * positives);  // balanced
    CHECK(distinct.size() == ps.size());                      // no pair twice
    if (k == 0) {
      REQUIRE(positives > 100);
      // Order is no cue: the hypernym comes first about half the time.
      CHECK(hypernym_first > positives * 3 / 10);
      CHECK(hypernym_first < positives * 7 / 10);
      // Half the negatives are drawn within the hyponym's supersense, so most share one.
      CHECK(same_supersense > positives / 2);
    }
  }

  // Seeded: the same options give the same pairs; another pair seed gives others.
  const SynsetPairSplits again = hypernym_pairs(graph, options);
  REQUIRE(again.train.size() == pairs.train.size());
  bool same = true;
  for (size_t i = 0; i < pairs.train.size(); ++i)
    same &= again.train[i].first == pairs.train[i].first &&
            again.train[i].second == pairs.train[i].second;
  CHECK(same);
  WordNetTaskOptions reseeded = options;
  reseeded.pair_seed += 1;
  const SynsetPairSplits other = hypernym_pairs(graph, reseeded);
  bool differs = false;
  for (size_t i = 0; i < std::min(other.train.size(), pairs.train.size()); ++i)
    differs |= other.train[i].first != pairs.train[i].first;
  CHECK(differs);

  // Caps keep the balance; the text form carries the glosses in the pair's order.
  WordNetTaskOptions capped = options;
  capped.max_train_examples = 41;
  const TextSplits text = wordnet_hypernym_pair_task(graph, capped);
  REQUIRE(text.train.size() == 40);
  int64_t ones = 0;
  for (const TextExample& e : text.train.examples) ones += e.label;
  CHECK(ones == 20);
  CHECK(text.train.class_names == std::vector<std::string>{"not_hypernym", "hypernym"});
  const TextSplits full = wordnet_hypernym_pair_task(graph, options);
  CHECK(full.test.examples[0].texts ==
        std::vector<std::string>{graph.synsets[pairs.test[0].first].gloss,
                                 graph.synsets[pairs.test[0].second].gloss});
}

TEST_CASE("wordnet_tasks: path-similarity targets match the distance and cover [0, 5]",
          "[datasets][wordnet]") {
  test::TempDir dir;
  test::write_text(dir.file("data.noun"), tree_file());
  const WordNetTaskOptions options = tree_options(dir.file("data.noun"));
  const WordNetGraph graph = read_wordnet_graph(options.path);
  const SynsetSplit split = wordnet_synset_split(graph, options);
  std::map<int32_t, int> split_of;
  for (int k = 0; k < 3; ++k)
    for (int32_t s : part(split, k)) split_of[s] = k;

  // 10 / (1 + d): d = 1 -> 5, d = 4 -> 2, d = 9 -> 1.
  CHECK(path_similarity_target(1) == 5.0);
  CHECK(path_similarity_target(4) == 2.0);
  CHECK(path_similarity_target(9) == 1.0);

  const SynsetPairSplits pairs = path_similarity_pairs(graph, options);
  const std::array<int64_t, 3> wanted = {200, 50, 50};
  for (int k = 0; k < 3; ++k) {
    const std::vector<SynsetPair>& ps = part(pairs, k);
    INFO("split " << k);
    CHECK(static_cast<int64_t>(ps.size()) == wanted[k]);  // every bin filled on this tree
    std::array<int64_t, 5> per_unit{};                    // targets in [0,1), [1,2), ..., [4,5]
    std::set<std::pair<int, int>> distinct;
    for (const SynsetPair& p : ps) {
      CHECK(split_of[p.first] == k);
      CHECK(split_of[p.second] == k);
      const int a = node_of(graph.synsets[p.first].gloss),
                b = node_of(graph.synsets[p.second].gloss);
      CHECK(a != b);
      distinct.insert({std::min(a, b), std::max(a, b)});
      CHECK(p.value == Approx(10.0 / (1.0 + tree_distance(a, b))));
      ++per_unit[std::min(4, static_cast<int>(p.value))];
    }
    CHECK(distinct.size() == ps.size());
    for (int u = 0; u < 5; ++u) CHECK(per_unit[u] == wanted[k] / 5);  // one fifth per unit
  }

  // The text form: sentence pairs with real targets; caps cut a split.
  WordNetTaskOptions capped = options;
  capped.max_validation_examples = 7;
  const TextSplits text = wordnet_path_similarity_task(graph, capped);
  CHECK(text.train.regression);
  CHECK(text.train.class_names.empty());
  CHECK(text.validation.size() == 7);
  CHECK(text.train.examples[0].texts.size() == 2);
  CHECK(text.train.examples[0].value == pairs.train[0].value);
  CHECK(text.train.examples[0].label == -1);

  // A file too small to fill the bins leaves them short instead of failing or looping.
  Small small;
  WordNetTaskOptions tiny;
  tiny.path = small.path;
  tiny.train_fraction = 1.0;
  tiny.validation_fraction = 0.0;
  tiny.similarity_train_pairs = 50;
  const SynsetPairSplits few = path_similarity_pairs(small.graph, tiny);
  CHECK(few.train.size() < 50);
  CHECK(few.train.size() > 5);
  for (const SynsetPair& p : few.train)
    CHECK(p.value == path_similarity_target(*small.graph.path_distance(p.first, p.second)));
  CHECK(few.validation.empty());
}

TEST_CASE("wordnet_tasks: the supersense task splits synsets as the pair tasks do",
          "[datasets][wordnet]") {
  test::TempDir dir;
  test::write_text(dir.file("data.noun"), tree_file());
  WordNetTaskOptions options = tree_options(dir.file("data.noun"));
  const WordNetGraph graph = read_wordnet_graph(options.path);
  const SynsetSplit split = wordnet_synset_split(graph, options);
  const TextSplits a = wordnet_supersense_task(options);
  REQUIRE(a.test.size() == static_cast<int64_t>(split.test.size()));
  for (size_t i = 0; i < split.test.size(); ++i) {
    CHECK(a.test.examples[i].texts[0] == graph.synsets[split.test[i]].gloss);
    CHECK(a.test.examples[i].label == graph.synsets[split.test[i]].lex_file - 3);
  }
  options.max_train_examples = 10;
  CHECK(wordnet_supersense_task(options).train.size() == 10);
  options.max_train_examples = -1;
  CHECK_THROWS_WITH(wordnet_supersense_task(options), Catch::Contains("must be >= 0"));
}

TEST_CASE("wordnet_tasks: the real data.noun from wordnet-base", "[datasets][wordnet][real]") {
  if (!wordnet_available()) {
    WARN("skipped: " << kWordNetNounPath << " not found (apt-get install wordnet-base)");
    return;
  }
  const WordNetGraph graph = read_wordnet_graph();
  // WordNet 3.0: 82115 noun synsets; 75850 '@' and 8577 '@i' pointers; only entity has neither.
  REQUIRE(graph.size() == 82115);
  int64_t links = 0, tops = 0;
  for (const WordNetSynset& s : graph.synsets) {
    links += static_cast<int64_t>(s.hypernyms.size() + s.instance_hypernyms.size());
    tops += s.hypernyms.empty() && s.instance_hypernyms.empty();
  }
  CHECK(links == 75850 + 8577);
  CHECK(tops == 1);
  // NLTK's published example: dog.n.01 (02084071) and cat.n.01 (02121620), path similarity 0.2.
  const int32_t dog = graph.index_of(2084071), cat = graph.index_of(2121620);
  REQUIRE(dog >= 0);
  REQUIRE(cat >= 0);
  CHECK(graph.synsets[dog].lemmas.front() == "dog");
  CHECK(*graph.path_similarity(dog, cat) == Approx(0.2));

  const WordNetTaskOptions options;
  const SynsetPairSplits b = hypernym_pairs(graph, options);
  for (const std::vector<SynsetPair>* ps : {&b.train, &b.validation, &b.test}) {
    int64_t ones = 0;
    for (const SynsetPair& p : *ps) ones += p.label;
    CHECK(2 * ones == static_cast<int64_t>(ps->size()));
  }
  CHECK(b.train.size() > 100000);  // about 0.8^2 of the 84427 links, doubled
  CHECK(b.test.size() > 1000);     // about 0.1^2 of them, doubled

  const SynsetPairSplits c = path_similarity_pairs(graph, options);
  CHECK(c.train.size() == 20000);
  CHECK(c.validation.size() == 2000);
  CHECK(c.test.size() == 2000);
  std::array<int64_t, 5> per_unit{};
  for (const SynsetPair& p : c.test) ++per_unit[std::min(4, static_cast<int>(p.value))];
  for (int64_t count : per_unit) CHECK(count == 400);
}
