// Whole-file reads and gzip inflation for the dataset readers (see io.h).
#include "datasets/io.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/error.h"

namespace dg::data {

std::vector<uint8_t> read_file_bytes(const std::string& path, std::string_view what,
                                     std::string_view hint) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) {
    fail("{}: cannot open '{}': no such file{}{}", what, path, hint.empty() ? "" : "; ", hint);
  }
  check(std::filesystem::is_regular_file(status), "{}: '{}' is not a regular file", what, path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open '{}': {}", what, path, std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  check(size >= 0, "{}: cannot determine the size of '{}'", what, path);
  in.seekg(0, std::ios::beg);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0) in.read(reinterpret_cast<char*>(bytes.data()), size);
  check(static_cast<bool>(in), "{}: reading '{}' failed after {} of {} bytes", what, path,
        static_cast<int64_t>(in.gcount()), static_cast<int64_t>(size));
  return bytes;
}

bool is_gzip(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

size_t gunzip_initial_capacity(size_t compressed_size, uint32_t isize) {
  const size_t bound = compressed_size > SIZE_MAX / kMaxDeflateExpansion
                           ? SIZE_MAX
                           : compressed_size * kMaxDeflateExpansion;
  return std::max<size_t>(1, std::min<size_t>(size_t{isize} + 1, bound));
}

std::vector<uint8_t> gunzip(const std::vector<uint8_t>& compressed, std::string_view what,
                            const std::string& path) {
  check(compressed.size() < (size_t{1} << 32), "{}: '{}' is too large for one zlib call", what,
        path);
  z_stream zs{};
  // 16 + MAX_WBITS: expect a gzip header and trailer (whose CRC and length zlib verifies).
  check(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK, "{}: zlib initialisation failed", what);
  struct InflateEnd {  // frees zlib's state on every exit, errors included
    z_stream* zs;
    ~InflateEnd() { inflateEnd(zs); }
  } end_guard{&zs};
  uint32_t isize = 0;
  if (compressed.size() >= 4) {
    const size_t n = compressed.size();
    isize = compressed[n - 4] | compressed[n - 3] << 8 | compressed[n - 2] << 16 |
            static_cast<uint32_t>(compressed[n - 1]) << 24;
  }
  std::vector<uint8_t> out(gunzip_initial_capacity(compressed.size(), isize));
  size_t produced = 0;
  zs.next_in = const_cast<Bytef*>(compressed.data());
  zs.avail_in = static_cast<uInt>(compressed.size());
  while (true) {
    if (produced == out.size()) out.resize(out.size() * 2);
    const size_t room = std::min<size_t>(out.size() - produced, size_t{1} << 30);
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    produced += room - zs.avail_out;
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) break;
      // Another gzip member follows (concatenated .gz files are valid gzip).
      check(inflateReset(&zs) == Z_OK, "{}: zlib reset failed on '{}'", what, path);
      continue;
    }
    if (rc == Z_OK || (rc == Z_BUF_ERROR && zs.avail_out == 0)) continue;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
      fail("{}: '{}' is a truncated gzip file (the stream ends after {} compressed bytes)", what,
           path, compressed.size());
    }
    fail("{}: '{}' is not valid gzip data ({})", what, path,
         zs.msg ? std::string(zs.msg) : "error " + std::to_string(rc));
  }
  out.resize(produced);
  return out;
}

std::string_view utf8_text(const std::vector<uint8_t>& bytes, std::string_view what,
                           const std::string& path) {
  size_t start = 0;
  if (bytes.size() >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF) start = 3;
  int64_t line = 1;
  for (size_t i = start; i < bytes.size();) {
    const uint8_t b = bytes[i];
    if (b < 0x80) {
      line += b == '\n';
      ++i;
      continue;
    }
    // The length of the sequence and the range its second byte must fall in (RFC 3629, which
    // rules out overlong forms, surrogates and code points past U+10FFFF).
    size_t length = 0;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) length = 2;
    else if (b == 0xE0) length = 3, lo = 0xA0;
    else if (b >= 0xE1 && b <= 0xEC) length = 3;
    else if (b == 0xED) length = 3, hi = 0x9F;
    else if (b >= 0xEE && b <= 0xEF) length = 3;
    else if (b == 0xF0) length = 4, lo = 0x90;
    else if (b >= 0xF1 && b <= 0xF3) length = 4;
    else if (b == 0xF4) length = 4, hi = 0x8F;
    bool valid = length != 0 && i + length <= bytes.size() && bytes[i + 1] >= lo &&
                 bytes[i + 1] <= hi;
    for (size_t k = 2; valid && k < length; ++k) valid = (bytes[i + k] & 0xC0) == 0x80;
    check(valid,
          "{}: '{}' line {}: byte {} (0x{:02X}) is not valid UTF-8; the file must be UTF-8 text "
          "(convert it, e.g. with iconv -f latin1 -t utf-8)",
          what, path, line, i, b);
    i += length;
  }
  return {reinterpret_cast<const char*>(bytes.data()) + start, bytes.size() - start};
}

std::vector<uint8_t> gzip(const std::vector<uint8_t>& data) {
  z_stream zs{};
  // 16 + MAX_WBITS: write a gzip header and trailer rather than a raw zlib stream.
  check(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) == Z_OK,
        "gzip: zlib initialisation failed");
  std::vector<uint8_t> out(deflateBound(&zs, static_cast<uLong>(data.size())));
  zs.next_in = const_cast<Bytef*>(data.data());
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  check(rc == Z_STREAM_END, "gzip: compression failed (zlib error {})", rc);
  return out;
}

std::vector<uint8_t> read_maybe_gzipped(const std::string& path, std::string_view what,
                                        std::string_view hint) {
  std::vector<uint8_t> bytes = read_file_bytes(path, what, hint);
  return is_gzip(bytes) ? gunzip(bytes, what, path) : bytes;
}

}  // namespace dg::data
