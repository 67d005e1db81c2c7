// Tests of safetensors checkpoints: round trips of every dtype (0-dim, empty, non-contiguous,
// special float values), the exact byte layout, a file written by Python's safetensors
// (tests/reference/checkpoint_python.safetensors), atomic replacement, and the rejection of every
// kind of truncated, corrupted or inconsistent file, each written by the test itself.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "engine/ops/ops.h"
#include "nn/checkpoint.h"

using namespace dg;
using namespace dg::nn;
namespace fs = std::filesystem;

namespace {

// A fresh directory per test case, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           fmt::format("dg_test_checkpoint_{}_{}", ::getpid(), counter()++);
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string u64_le(uint64_t n) {
  std::string s(8, '\0');
  for (int k = 0; k < 8; ++k) s[k] = static_cast<char>(n >> (8 * k));
  return s;
}

// A safetensors file from a header and raw data, as a writer (buggy or not) would lay it out.
std::string file_bytes(const std::string& header, const std::string& data) {
  return u64_le(header.size()) + header + data;
}

// Same dtype, shape and bytes.
bool identical(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || !(a.shape() == b.shape())) return false;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(), ca.numel() * itemsize(ca.dtype())) == 0;
}

}  // namespace

TEST_CASE("safetensors: round trip of every dtype and shape", "[nn][checkpoint]") {
  TempDir dir;
  const double inf = std::numeric_limits<double>::infinity();
  StateDict tensors = {
      {"layer1.0.weight", from_vector(std::vector<float>{1.5f, -0.0f, NAN, 3e-39f, INFINITY, 7},
                                      {2, 3})},
      {"f64.scalar", scalar(-1.0 / 3.0, DType::f64)},
      {"f64.vector", from_vector(std::vector<double>{inf, -inf, 1e-310, 0.1})},
      {"i64", from_vector(std::vector<int64_t>{0, -1, std::numeric_limits<int64_t>::min(),
                                               std::numeric_limits<int64_t>::max()},
                          {2, 1, 2})},
      {"i64.scalar", scalar(42, DType::i64)},
      {"mask", from_vector(std::vector<bool>{true, false, false, true, true}, {5})},
      {"bool.scalar", scalar(1, DType::b8)},
      {"empty.f32", zeros({0, 4})},
      {"empty.bool", zeros({3, 0}, DType::b8)},
      {"transposed", from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1)},
      {"needs \"escaping\"\\ \n\t\x01 ünï ✓", tensor({1.0f})},
  };
  tensors["grad.leaf"] = ones({2, 2}).set_requires_grad(true);
  const Metadata metadata = {{"step", "1200"}, {"note", "quotes \" backslash \\ ✓\n"}, {"", ""}};
  const std::string path = dir.file("model.safetensors");
  save_safetensors(path, tensors, metadata);

  Metadata loaded_metadata;
  const StateDict loaded = load_safetensors(path, &loaded_metadata);
  CHECK(loaded_metadata == metadata);
  REQUIRE(loaded.size() == tensors.size());
  for (const auto& [name, t] : tensors) {
    INFO(name);
    REQUIRE(loaded.count(name));
    CHECK(identical(loaded.at(name), t));
    if (t.numel() > 0) CHECK(loaded.at(name).is_contiguous());
    CHECK_FALSE(loaded.at(name).requires_grad());
  }
  CHECK(loaded.at("transposed").to_vector<float>() == std::vector<float>{1, 4, 2, 5, 3, 6});

  SECTION("the layout: 8-byte length, padded JSON header, data packed by element size, name") {
    const std::string bytes = read_bytes(path);
    uint64_t n = 0;
    for (int k = 0; k < 8; ++k) n |= uint64_t(uint8_t(bytes[k])) << (8 * k);
    CHECK(n % 8 == 0);
    CHECK(bytes[8] == '{');
    uint64_t data_bytes = 0;
    for (const auto& [name, t] : tensors) data_bytes += t.numel() * itemsize(t.dtype());
    CHECK(bytes.size() == 8 + n + data_bytes);
    const std::string header = bytes.substr(8, n);
    // 8-byte tensors (80 bytes), then 4-byte ones (68 bytes), then bools, each group by name.
    const char* expected[] = {
        R"("f64.scalar":{"dtype":"F64","shape":[],"data_offsets":[0,8]})",
        R"("i64.scalar":{"dtype":"I64","shape":[],"data_offsets":[72,80]})",
        R"("empty.f32":{"dtype":"F32","shape":[0,4],"data_offsets":[80,80]})",
        R"("transposed":{"dtype":"F32","shape":[3,2],"data_offsets":[124,148]})",
        R"("bool.scalar":{"dtype":"BOOL","shape":[],"data_offsets":[148,149]})",
        R"("empty.bool":{"dtype":"BOOL","shape":[3,0],"data_offsets":[149,149]})",
        R"("mask":{"dtype":"BOOL","shape":[5],"data_offsets":[149,154]})"};
    size_t previous = 0;
    for (const char* entry : expected) {
      INFO(entry);
      const size_t at = header.find(entry);
      CHECK(at != std::string::npos);
      CHECK(at > previous);  // the header lists tensors in data order
      previous = at;
    }
    CHECK(header.find("\"__metadata__\":{") == 1);
    // No temporary file is left beside the checkpoint.
    CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
  }
}

TEST_CASE("safetensors: empty state dict, replacing a file, unwritable path", "[nn][checkpoint]") {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  save_safetensors(path, {});
  CHECK(read_bytes(path) == u64_le(8) + "{}      ");
  Metadata metadata = {{"stale", "entry"}};
  CHECK(load_safetensors(path, &metadata).empty());
  CHECK(metadata.empty());

  save_safetensors(path, {{"a", tensor({1.0f, 2.0f})}});  // replaces the old file
  CHECK(load_safetensors(path).at("a").to_vector<float>() == std::vector<float>{1.0f, 2.0f});

  const std::string missing_dir = dir.file("no/such/dir/x.safetensors");
  CHECK_THROWS_WITH(save_safetensors(missing_dir, {}),
                    Catch::Contains("save_safetensors: " + missing_dir) &&
                        Catch::Contains("cannot create"));
  CHECK_THROWS_WITH(save_safetensors(path, {{"__metadata__", tensor({1.0f})}}),
                    Catch::Contains("may not be named '__metadata__'"));
  CHECK_THROWS_WITH(save_safetensors(path, {{"undefined", Tensor()}}),
                    Catch::Contains("tensor 'undefined' is undefined"));
  CHECK_THROWS_WITH(save_safetensors(path, {{std::string("bad\xff utf8"), tensor({1.0f})}}),
                    Catch::Contains("is not valid UTF-8"));
  // A failed save leaves the previous file and no temporary.
  CHECK(load_safetensors(path).size() == 1);
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
  CHECK_THROWS_WITH(load_safetensors(dir.file("absent.safetensors")),
                    Catch::Contains("absent.safetensors: cannot open the file"));
  CHECK_THROWS_WITH(load_safetensors(dir.path.string()), Catch::Contains("is a directory, not a file"));
}

TEST_CASE("safetensors: loads a file written by Python's safetensors", "[nn][checkpoint]") {
  Metadata metadata;
  const StateDict t = load_safetensors(
      std::string(DG_TEST_DATA_DIR) + "/reference/checkpoint_python.safetensors", &metadata);
  CHECK(metadata == Metadata{{"format", "np"}, {"note", "dünn ✓ \"quoted\""}});
  REQUIRE(t.size() == 6);
  CHECK(t.at("weight").shape() == Shape{2, 3});
  CHECK(t.at("weight").to_vector<float>() ==
        std::vector<float>{-0.5f, -0.25f, 0.0f, 0.25f, 0.5f, 0.75f});
  CHECK(t.at("scale").dim() == 0);
  CHECK(t.at("scale").item<double>() == 2.718281828459045);
  CHECK(t.at("indices").to_vector<int64_t>() ==
        std::vector<int64_t>{3, -1, int64_t(1) << 40, -(int64_t(1) << 62)});
  CHECK(t.at("mask").dtype() == DType::b8);
  CHECK(t.at("mask").to_vector<bool>() == std::vector<bool>{true, false, false, true});
  CHECK(t.at("empty").shape() == Shape{0, 3});
  CHECK(t.at("odd \"name\"\\with\tescapes é").to_vector<double>() ==
        std::vector<double>{1.5, -2.25});
}

TEST_CASE("safetensors: corrupt files are rejected with the file and the problem named",
          "[nn][checkpoint]") {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  // One F32 [2] tensor: the valid file that most cases below break in one place.
  const std::string tensor_a = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string eight_bytes(8, '\0');
  auto rejects = [&](const std::string& bytes, const std::string& problem) {
    write_bytes(path, bytes);
    Metadata metadata = {{"untouched", "yes"}};
    CHECK_THROWS_WITH(load_safetensors(path, &metadata),
                      Catch::Contains("load_safetensors: " + path) && Catch::Contains(problem));
    CHECK(metadata == Metadata{{"untouched", "yes"}});
  };
  // The valid file loads, so each failure below is due to its one change.
  write_bytes(path, file_bytes("{" + tensor_a + "}", eight_bytes));
  REQUIRE(load_safetensors(path).at("a").numel() == 2);

  SECTION("bad header length") {
    rejects("", "the file has 0 bytes, too few");
    rejects(std::string("\x10\x00\x00", 3), "the file has 3 bytes, too few");
    rejects(u64_le(100) + "{}", "header length 100 runs past the end of the file (10 bytes)");
    rejects(u64_le(uint64_t(1) << 63) + "{}", "runs past the end of the file");
    rejects(u64_le(0) + "{}", "too small for a JSON object");
  }
  SECTION("invalid JSON or UTF-8") {
    rejects(file_bytes(R"({"a":{"dtype":"F32",)", ""), "invalid JSON header at byte 20");
    rejects(file_bytes(R"({"a":{"dtype":"F32"  "shape":[2]}})", ""), "expected '}'");
    rejects(file_bytes("[1,2]", ""), "the header is not a JSON object");
    rejects(file_bytes("{} x", ""), "at byte 3: syntax error while parsing value");
    rejects(file_bytes(R"({"a\q":1})", ""), "forbidden character after backslash");
    rejects(file_bytes("{\"a\x01\":1}", ""), "control character");
    rejects(file_bytes(R"({"\ud800":1})", ""), "surrogate U+D800..U+DBFF must be followed");
    rejects(file_bytes("{\"\xc3\x28\":1}", ""), "ill-formed UTF-8");
    rejects(file_bytes(std::string(100, '[') + std::string(100, ']'), ""), "nested too deeply");
    rejects(file_bytes(R"({"a":NaN})", ""), "invalid literal");
    rejects(file_bytes(R"({"a":1e400})", ""), "number overflow");
  }
  SECTION("a header too large to parse into memory") {
    // 2^20 + 1 values in about 2 MB: refused while parsing, before the tree holds them all.
    std::string many = "{\"a\":[0";
    for (int i = 0; i < (1 << 20); ++i) many += ",0";
    rejects(file_bytes(many + "]}", ""), "the header holds over 1048576 JSON values");
  }
  SECTION("unknown dtype, bad fields") {
    rejects(file_bytes(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", "1234"),
            "tensor 'a' has unsupported dtype 'F16'");
    rejects(file_bytes(R"({"a":{"dtype":"WHAT","shape":[2],"data_offsets":[0,8]}})", eight_bytes),
            "unsupported dtype 'WHAT'");
    rejects(file_bytes(R"({"a":{"dtype":"F32","shape":[2]}})", ""), "needs the fields");
    rejects(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})",
                       eight_bytes), "unexpected field 'x'");
    rejects(file_bytes(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight_bytes),
            "must be a non-negative integer");
    rejects(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8.0]}})",
                       eight_bytes), "got 8.0");
    rejects(file_bytes(R"({"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],"data_offsets":[0,8]}})",
                       eight_bytes), "has 9 dims; dyngrad supports at most 8");
    rejects(file_bytes(R"({"a":[1]})", ""), "the header entry of tensor 'a' is not an object");
    rejects(file_bytes(R"({"__metadata__":{"k":1}})", ""),
            "__metadata__ value of 'k' is not a string");
  }
  SECTION("dtype, shape and byte count disagree") {
    rejects(file_bytes(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", eight_bytes),
            "tensor 'a' of dtype F64 and shape [2] needs 16 bytes but its data_offsets [0, 8] "
            "span 8");
    rejects(file_bytes(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],)"
                       R"("data_offsets":[0,8]}})", eight_bytes), "impossible shape");
  }
  SECTION("offsets out of range, overlapping, with gaps or not covering the data") {
    rejects(file_bytes("{" + tensor_a + "}", "1234"),
            "tensor 'a' has data_offsets [0, 8] past the end of the data (4 bytes)");
    rejects(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", eight_bytes),
            "begin after end");
    rejects(file_bytes("{" + tensor_a + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                       std::string(12, '\0')),
            "tensor 'b' (bytes [4, 12]) overlaps tensor 'a'");
    rejects(file_bytes("{" + tensor_a + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
                       std::string(16, '\0')),
            "gap: bytes [8, 12] belong to no tensor");
    rejects(file_bytes("{" + tensor_a + "}", std::string(12, '\0')),
            "the data section has 12 bytes but the tensors cover only 8");
    rejects(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                       std::string(12, '\0')), "gap: bytes [0, 4]");
  }
  SECTION("duplicate names") {
    rejects(file_bytes("{" + tensor_a + "," + tensor_a + "}", eight_bytes),
            "duplicate key \"a\"");
    rejects(file_bytes(R"({"a":{"dtype":"F32","dtype":"F64","shape":[2],"data_offsets":[0,8]}})",
                       eight_bytes), "duplicate key \"dtype\"");
  }
  SECTION("truncated data, invalid bool bytes") {
    save_safetensors(path, {{"w", ones({4, 4})}, {"z", zeros({3})}});
    const std::string good = read_bytes(path);
    rejects(good.substr(0, good.size() - 1), "past the end of the data");
    rejects(good.substr(0, 20), "runs past the end of the file");
    rejects(file_bytes(R"({"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})",
                       std::string("\x01\x02\x00", 3)),
            "tensor 'm' of dtype BOOL holds the byte 2");
  }
}
