// Fuzz target: the CIFAR-10 binary reader, as one batch file, with and without the per-channel
// standardisation.
#include "datasets/cifar.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = dg::fuzz::write_input(data, size, "data_batch_1.bin");
  for (const dg::data::CifarNormalization& norm :
       {dg::data::CifarNormalization{}, dg::data::kCifar10Normalization}) {
    try {
      const dg::data::TensorDataset set = dg::data::read_cifar10_binary({path}, norm);
      dg::fuzz::touch(set.inputs());
      dg::fuzz::touch(set.targets());
    } catch (const dg::Error&) {
    }
  }
  return 0;
}
