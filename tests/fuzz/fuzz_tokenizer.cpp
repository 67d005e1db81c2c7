// Fuzz target: Tokenizer::load (the plain-text tokenizer file saved next to a trained model), then
// encode and decode through the loaded vocabulary; every id must index the vocabulary.
#include "datasets/tokenizer.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = dg::fuzz::write_input(data, size, "tokenizer.txt");
  try {
    const dg::data::Tokenizer tokenizer = dg::data::Tokenizer::load(path);
    const std::vector<int64_t> ids = tokenizer.encode("Don't stop, caf\xC3\xA9 <unk> the end.");
    for (int64_t id : ids)
      if (id < 0 || id >= tokenizer.vocab().size()) std::abort();  // an id past the vocabulary
    (void)tokenizer.decode(ids);
  } catch (const dg::Error&) {
  }
  return 0;
}
