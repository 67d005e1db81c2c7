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
