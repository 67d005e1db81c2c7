// Reading whole files for the dataset readers: one place that turns "file missing", "not a
// regular file" and "read failed" into dg::Errors naming the path (and, where the data comes from a
// Debian package, the package to install), and that inflates gzip data through zlib, rejecting a
// corrupt or truncated stream instead of returning the part that did decode.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dg::data {

// The bytes of the file at `path`. `what` names the caller in errors ("idx", "cifar10"); `hint`,
// when not empty, is appended to a "cannot open" error (e.g. "install the Debian package ...").
std::vector<uint8_t> read_file_bytes(const std::string& path, std::string_view what,
                                     std::string_view hint = {});

// True when `bytes` start with the gzip magic number (1f 8b).
bool is_gzip(const std::vector<uint8_t>& bytes);

// How much gunzip reserves before decoding: the trailer's ISIZE (the uncompressed size mod 2^32,
// exact for an intact file under 4 GiB) plus one, but never more than deflate can expand
// `compressed_size` bytes to (at most 1032x), so a corrupt or hostile trailer cannot make it
// allocate gigabytes up front; the buffer then grows as the stream actually decodes.
inline constexpr size_t kMaxDeflateExpansion = 1032;
size_t gunzip_initial_capacity(size_t compressed_size, uint32_t isize);

// The text of a file read by a text reader (GLUE TSV, WordNet): a UTF-8 byte-order mark at the
// start is dropped (a documented normalisation: some editors write one, and it would otherwise
// become part of the first column's name), and bytes that are not valid UTF-8 (a Latin-1 file,
// a binary file, overlong or surrogate encodings) are a dg::Error naming `what`, `path`, the line
// and the byte offset. The view points into `bytes`.
std::string_view utf8_text(const std::vector<uint8_t>& bytes, std::string_view what,
                           const std::string& path);

// The decompressed contents of a complete gzip stream (or several concatenated members, as gzip
// allows). Throws dg::Error naming `what` and `path` on corrupt or truncated data.
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& compressed, std::string_view what,
                            const std::string& path);

// `data` as one gzip member (default compression level), e.g. to write a .gz file.
std::vector<uint8_t> gzip(const std::vector<uint8_t>& data);

// The file's bytes, decompressed when they are gzip data (detected by content, not by name).
std::vector<uint8_t> read_maybe_gzipped(const std::string& path, std::string_view what,
                                        std::string_view hint = {});

}  // namespace dg::data
