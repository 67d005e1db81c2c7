// Image folders: PNG and JPEG files written here with stb_image_write, class order, ignored
// entries, decoding to [C,H,W], grey conversion, resizing (checked against PyTorch's bilinear
// interpolation), normalisation and decode errors.
#include <catch2/catch.hpp>
#include <cmath>

#include "datasets/image_folder.h"
#include "engine/ops/ops.h"
#include "tests/datasets/data_test_util.h"

// The writer's symbols stay private to this file (another library may carry its own copy).
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

using namespace dg;
using namespace dg::data;

namespace {

// An RGB image whose pixel (y, x) is (base + 10 x, base + 20 y, 200), interleaved.
std::vector<uint8_t> rgb_pixels(int w, int h, int base) {
  std::vector<uint8_t> p;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      p.push_back(static_cast<uint8_t>(base + 10 * x));
      p.push_back(static_cast<uint8_t>(base + 20 * y));
      p.push_back(200);
    }
  return p;
}

void write_png(const std::string& path, int w, int h, int base) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  const auto p = rgb_pixels(w, h, base);
  REQUIRE(stbi_write_png(path.c_str(), w, h, 3, p.data(), w * 3) != 0);
}

}  // namespace

TEST_CASE("image_folder: classes are sorted sub-folders; images decode to [C,H,W] in [0,1]",
          "[datasets][image_folder]") {
  test::TempDir dir;
  write_png(dir.file("zebra/b.png"), 4, 3, 0);
  write_png(dir.file("zebra/a.png"), 4, 3, 30);
  write_png(dir.file("ant/only.PNG"), 4, 3, 60);
  write_png(dir.file(".hidden/x.png"), 4, 3, 0);  // hidden folder: not a class
  test::write_text(dir.file("ant/notes.txt"), "not an image");
  test::write_text(dir.file("README"), "a file at the top level");

  ImageFolderOptions options;
  options.height = 3;
  options.width = 4;
  const ImageFolder folder(dir.path().string(), options);
  CHECK(folder.class_names() == std::vector<std::string>{"ant", "zebra"});
  REQUIRE(folder.size() == 3);
  CHECK(folder.labels() == std::vector<int64_t>{0, 1, 1});
  CHECK(folder.paths()[1].ends_with("zebra/a.png"));

  const Example e = folder.get(1);
  CHECK(e.input.shape() == Shape{3, 3, 4});
  CHECK(e.target.item<int64_t>() == 1);
  const auto v = e.input.to_vector<float>();
  // Channel 0 at (y=2, x=3): 30 + 30 = 60; channel 1 at (2, 3): 30 + 40 = 70; channel 2: 200.
  CHECK(v[0 * 12 + 2 * 4 + 3] == Approx(60.0f / 255.0f));
  CHECK(v[1 * 12 + 2 * 4 + 3] == Approx(70.0f / 255.0f));
  CHECK(v[2 * 12 + 0] == Approx(200.0f / 255.0f));

  const TensorDataset all = folder.load_all();
  CHECK(all.inputs().shape() == Shape{3, 3, 3, 4});
  CHECK(all.targets().to_vector<int64_t>() == std::vector<int64_t>{0, 1, 1});
}

TEST_CASE("image_folder: resizing, grey conversion, JPEG and normalisation",
          "[datasets][image_folder]") {
  test::TempDir dir;
  write_png(dir.file("a/big.png"), 16, 12, 0);
  {
    const auto p = rgb_pixels(8, 8, 40);
    std::filesystem::create_directories(dir.path() / "b");
    REQUIRE(stbi_write_jpg(dir.file("b/photo.jpg").c_str(), 8, 8, 3, p.data(), 100) != 0);
  }
  ImageFolderOptions options;
  options.height = 6;
  options.width = 8;
  options.channels = 1;
  const ImageFolder grey(dir.path().string(), options);
  const Example big = grey.get(0);
  CHECK(big.input.shape() == Shape{1, 6, 8});
  const Example jpeg = grey.get(1);
  CHECK(jpeg.input.shape() == Shape{1, 6, 8});
  CHECK(jpeg.target.item<int64_t>() == 1);

  // Downscaling a 16x12 ramp by 2 samples between pixel pairs: the red channel at output column x
  // is the mean of input columns 2x and 2x+1, i.e. 10 (2x + 0.5).
  options.channels = 3;
  options.mean = {0.5f, 0.5f, 0.5f};
  options.std = {0.25f, 0.25f, 0.25f};
  const ImageFolder colour(dir.path().string(), options);
  const auto v = colour.get(0).input.to_vector<float>();
  for (int x = 0; x < 8; ++x)
    CHECK(v[5 * 8 + x] == Approx(((10.0f * (2 * x + 0.5f)) / 255.0f - 0.5f) / 0.25f));

  options.mean = {0.5f};
  CHECK_THROWS_WITH(ImageFolder(dir.path().string(), options),
                    Catch::Contains("one value per channel"));
}

TEST_CASE("image_folder: resize_bilinear matches PyTorch's bilinear interpolation",
          "[datasets][image_folder]") {
  // torch.nn.functional.interpolate(x, size, mode="bilinear", align_corners=False).
  std::vector<float> up(12);
  for (int i = 0; i < 12; ++i) up[i] = 0.5f * i;
  const Tensor upsized = resize_bilinear(from_vector(up, {1, 1, 3, 4}), 5, 2);
  const std::vector<float> torch_up = {0.25f, 1.25f, 1.0500000715255737f, 2.0500001907348633f,
                                       2.25f, 3.25f, 3.450000286102295f,  4.450000286102295f,
                                       4.25f, 5.25f};
  CHECK(upsized.shape() == Shape{1, 1, 5, 2});
  const auto got_up = upsized.to_vector<float>();
  for (size_t i = 0; i < torch_up.size(); ++i)
    CHECK(got_up[i] == Approx(torch_up[i]).epsilon(1e-6));

  std::vector<float> down(24);
  for (int i = 0; i < 24; ++i) down[i] = std::pow(static_cast<float>(i), 1.5f) / 10.0f;
  const auto got_down = resize_bilinear(from_vector(down, {1, 4, 6}), 3, 5).to_vector<float>();
  const std::vector<float> torch_down = {
      0.25965455174446106f, 0.45825085043907166f, 0.7479193210601807f, 1.1005029678344727f,
      1.5051400661468506f,  2.8589394092559814f,  3.4138944149017334f, 4.002634525299072f,
      4.623218536376953f,   5.274019241333008f,   7.119382858276367f,  7.87593936920166f,
      8.657183647155762f,   9.462360382080078f,   10.290778160095215f};
  for (size_t i = 0; i < torch_down.size(); ++i)
    CHECK(got_down[i] == Approx(torch_down[i]).epsilon(1e-5));

  CHECK_THROWS_WITH(resize_bilinear(from_vector(up, {12}), 2, 2),
                    Catch::Contains("expected f32 [C,H,W]"));
}

TEST_CASE("image_folder: unreadable images and empty folders are clear errors",
          "[datasets][image_folder]") {
  test::TempDir dir;
  test::write_text(dir.file("cls/broken.png"), "this is not a PNG");
  const ImageFolder folder(dir.path().string());
  CHECK_THROWS_WITH(folder.get(0),
                    Catch::Contains("cannot decode") && Catch::Contains("broken.png"));
  CHECK_THROWS_WITH(folder.get(1), Catch::Contains("index 1 out of range"));

  std::filesystem::create_directories(dir.path() / "empty");
  CHECK_THROWS_WITH(ImageFolder(dir.path().string()), Catch::Contains("holds no .png"));
  CHECK_THROWS_WITH(ImageFolder(dir.file("nope")), Catch::Contains("is not a directory"));
  CHECK_THROWS_WITH(load_image(dir.file("nope.png")), Catch::Contains("no such file"));
}
