// Fuzz target: the WordNet data.noun parser, with and without the noun.Tops class, and the seeded
// split on top of it.
#include "datasets/wordnet.h"
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
  return 0;
}
