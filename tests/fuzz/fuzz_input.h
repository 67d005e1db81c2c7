// Shared by the fuzz targets: the readers under test take file paths, so each input is written to
// a scratch file (one per process, under the temp dir) and read back through the real path-based
// entry point, exactly as a user's file would be. Only dg::Error may escape a reader: any other
// exception reaches libFuzzer as a crash, and AddressSanitizer/UndefinedBehaviorSanitizer turn an
// out-of-bounds access or undefined behaviour into one.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/ops/ops.h"

namespace dg::fuzz {

// A directory private to this process, created on first use.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path d = std::filesystem::temp_directory_path() /
                              ("dg_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return dir;
}

// Writes the input to `relative` under the scratch directory; returns its path.
inline std::string write_input(const uint8_t* data, size_t size, const std::string& relative) {
  const std::filesystem::path path = scratch_dir() / relative;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) std::abort();  // the scratch disk failing is not a finding; stop loudly
  return path.string();
}

// Reads every element of `t`, so a tensor whose buffer is shorter than its shape claims shows up
// under AddressSanitizer; the sum is returned so the reads cannot be optimised away.
inline double touch(const Tensor& t) {
  if (!t.defined() || t.numel() == 0) return 0;
  NoGradGuard no_grad;
  return t.to(DType::f64).sum().item<double>();
}

}  // namespace dg::fuzz
