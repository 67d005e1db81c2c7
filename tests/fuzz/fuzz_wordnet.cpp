// Fuzz target: the WordNet data.noun parsers, the gloss reader with and without the noun.Tops
// class and the seeded split on top of it, then the synset graph and the two pair tasks built on
// it (small sizes), checking their invariants: positives are direct links, negatives are not
// related, labels balance, targets equal 10 / (1 + distance).
#include "datasets/wordnet.h"
#include "datasets/wordnet_graph.h"
#include "datasets/wordnet_tasks.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dg::data::WordNetOptions options;
  options.path = dg::fuzz::write_input(data, size, "data.noun");
  for (bool tops : {true, false}) {
    options.include_tops = tops;
    try {
      const dg::data::TextSplits splits = dg::data::wordnet_gloss_splits(options);
      for (const dg::data::TextExample& e : splits.train.examples)
        if (e.label < 0 || e.label >= static_cast<int64_t>(splits.train.class_names.size()))
          std::abort();  // a label outside the class list is a parser bug
    } catch (const dg::Error&) {
    }
  }

  try {
    const dg::data::WordNetGraph graph = dg::data::read_wordnet_graph(options.path);
    dg::data::WordNetTaskOptions task;
    task.path = options.path;
    task.train_fraction = 0.6;
    task.validation_fraction = 0.2;
    task.similarity_train_pairs = 10;
    task.similarity_validation_pairs = 5;
    task.similarity_test_pairs = 5;
    const dg::data::SynsetPairSplits b = dg::data::hypernym_pairs(graph, task);
    for (const auto* pairs : {&b.train, &b.validation, &b.test}) {
      int64_t positives = 0;
      for (const dg::data::SynsetPair& p : *pairs) {
        const bool linked = graph.directly_linked(p.first, p.second);
        const bool related = p.first == p.second || graph.is_ancestor(p.first, p.second) ||
                             graph.is_ancestor(p.second, p.first);
        if (p.label == 1 ? !linked : (p.label != 0 || related)) std::abort();
        positives += p.label;
      }
      if (2 * positives != static_cast<int64_t>(pairs->size())) std::abort();
    }
    const dg::data::SynsetPairSplits c = dg::data::path_similarity_pairs(graph, task);
    for (const auto* pairs : {&c.train, &c.validation, &c.test})
      for (const dg::data::SynsetPair& p : *pairs) {
        const std::optional<int32_t> d = graph.path_distance(p.first, p.second);
        if (!d || *d < 1 || p.value != dg::data::path_similarity_target(*d)) std::abort();
      }
  } catch (const dg::Error&) {
  }
  return 0;
}
