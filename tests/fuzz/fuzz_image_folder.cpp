// Fuzz target: the image-folder decoder. The input is the single image of a one-class folder
// (named .png; stb_image detects the real format from the content), read through ImageFolder as a
// training loop would: decode, resize to 8x8, standardise; then as grey through load_image.
#include "datasets/image_folder.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = dg::fuzz::write_input(data, size, "images/cls/input.png");
  try {
    dg::data::ImageFolderOptions options;
    options.height = 8;
    options.width = 8;
    options.mean = {0.5f, 0.5f, 0.5f};
    options.std = {0.25f, 0.25f, 0.25f};
    const dg::data::ImageFolder folder((dg::fuzz::scratch_dir() / "images").string(), options);
    dg::fuzz::touch(folder.get(0).input);
  } catch (const dg::Error&) {
  }
  try {
    dg::fuzz::touch(dg::data::load_image(path, 1));
  } catch (const dg::Error&) {
  }
  return 0;
}
