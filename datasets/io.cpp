// Whole-file reads and gzip inflation for the dataset readers (see io.h).
#include "datasets/io.h"

#include <zlib.h>

#include <algorithm>
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

std::vector<uint8_t> gunzip(const std::vector<uint8_t>& compressed, std::string_view what,
                            const std::string& path) {
  check(compressed.size() < (size_t{1} << 32), "{}: '{}' is too large for one zlib call", what,
        path);
  z_stream zs{};
  // 16 + MAX_WBITS: expect a gzip header and trailer (whose CRC and length zlib verifies).
  check(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK, "{}: zlib initialisation failed", what);
  // Inflate straight into `out`, sized first from the gzip trailer's ISIZE (the uncompressed size
  // mod 2^32, exact for files under 4 GiB) and grown if that was short.
  size_t guess = 1 << 16;
  if (compressed.size() >= 4) {
    const size_t n = compressed.size();
    const uint32_t isize = compressed[n - 4] | compressed[n - 3] << 8 | compressed[n - 2] << 16 |
                           static_cast<uint32_t>(compressed[n - 1]) << 24;
    guess = std::max<size_t>(guess, isize + size_t{1});
  }
  std::vector<uint8_t> out(guess);
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
      inflateEnd(&zs);
      fail("{}: '{}' is a truncated gzip file (the stream ends after {} compressed bytes)", what,
           path, compressed.size());
    }
    const std::string reason = zs.msg ? zs.msg : "error " + std::to_string(rc);
    inflateEnd(&zs);
    fail("{}: '{}' is not valid gzip data ({})", what, path, reason);
  }
  out.resize(produced);
  inflateEnd(&zs);
  return out;
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
