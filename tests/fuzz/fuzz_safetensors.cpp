// Fuzz target: nn::load_safetensors on arbitrary bytes. A file is either rejected whole with a
// dg::Error or every tensor it returns is readable in full.
#include "nn/checkpoint.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = dg::fuzz::write_input(data, size, "model.safetensors");
  try {
    dg::nn::Metadata metadata;
    for (const auto& [name, tensor] : dg::nn::load_safetensors(path, &metadata))
      dg::fuzz::touch(tensor);
  } catch (const dg::Error&) {
  }
  return 0;
}
