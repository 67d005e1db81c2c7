// Fuzz target: the IDX reader (MNIST / Fashion-MNIST images and labels) and, for inputs that start
// with the gzip magic, the gzip inflater in front of it. The same bytes are read both as an image
// file (with and without normalisation) and as a label file.
#include "datasets/idx.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = dg::fuzz::write_input(data, size, "images-idx-ubyte");
  try {
    dg::fuzz::touch(dg::data::read_idx_images(path));
  } catch (const dg::Error&) {
  }
  try {
    dg::data::ImageNormalization norm;
    norm.mean = 0.5f;
    norm.std = 0.25f;
    dg::fuzz::touch(dg::data::read_idx_images(path, norm));
  } catch (const dg::Error&) {
  }
  try {
    dg::fuzz::touch(dg::data::read_idx_labels(path));
  } catch (const dg::Error&) {
  }
  return 0;
}
