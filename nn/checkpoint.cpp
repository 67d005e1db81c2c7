// safetensors reading and writing (see checkpoint.h). The header is JSON, read and written with
// nlohmann::json (Debian's nlohmann-json3-dev; docs/architecture.md says why that library). Its
// parser is strict (RFC 8259, UTF-8 and surrogate pairs checked); parse_header adds the limits a
// file from anywhere needs (depth, number of values, no duplicate keys), and loading validates the
// whole header against the file size before it allocates or reads any tensor data.
#include "nn/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/autograd.h"
#include "engine/ops/ops.h"

namespace dg::nn {

// The data is written and read as the machine's own bytes.
static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; this machine is big-endian");

namespace {

// Headers larger than this are refused (as the reference implementation does), so that a corrupt
// length cannot make us allocate gigabytes.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr std::string_view kMetadataKey = "__metadata__";

// ---------------------------------------------------------------- dtypes

std::string_view safetensors_dtype(DType d) {
  switch (d) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i64: return "I64";
    case DType::b8: return "BOOL";
  }
  fail("save_safetensors: unknown dtype {}", static_cast<int>(d));
}

bool parse_dtype(std::string_view name, DType* out) {
  for (DType d : {DType::f32, DType::f64, DType::i64, DType::b8}) {
    if (name == safetensors_dtype(d)) {
      *out = d;
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------- JSON

// Parsing uses nlohmann::json (std::map objects: lookups and inserts stay O(log n) however many
// keys a hostile header holds); writing uses ordered_json, so the header lists tensors in data
// order, as the reference writer does.
using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// A real header needs depth 2 (root, tensor entry, shape); anything deeper than this is refused.
constexpr int kMaxDepth = 64;
// A JSON value costs the parsed tree at most about 80 bytes (measured: 75 for an empty object under
// a key), so this bounds the tree near 80 MB however the (at most kMaxHeaderBytes) header is built;
// the copies of keys kept to find duplicates add at most as much again. A tensor's entry takes
// about ten values, so this still allows some hundred thousand tensors in one file; real
// checkpoints hold a few thousand per shard.
constexpr size_t kMaxHeaderValues = size_t{1} << 20;

// The library's message without its "[json.exception.parse_error.101] parse error at line 1,
// column 21: " prefix (the byte is reported separately).
std::string_view library_message(std::string_view what) {
  if (what.starts_with('[')) {
    if (const size_t close = what.find("] "); close != std::string_view::npos)
      what.remove_prefix(close + 2);
  }
  if (what.starts_with("parse error")) {
    if (const size_t colon = what.find(": "); colon != std::string_view::npos)
      what.remove_prefix(colon + 2);
  }
  return what;
}

// Parses the header strictly (RFC 8259, UTF-8 checked by the library), refusing while it parses,
// before the tree grows: nesting deeper than kMaxDepth, more than kMaxHeaderValues values, and
// duplicate keys (which the library would otherwise resolve silently, last one wins).
Json parse_header(const std::string& text, const std::string& who) {
  std::vector<std::set<std::string, std::less<>>> open_objects_keys;
  size_t values = 0;
  const Json::parser_callback_t limits = [&](int depth, Json::parse_event_t event, Json& parsed) {
    using Event = Json::parse_event_t;
    if (event == Event::object_start || event == Event::array_start) {
      check(depth < kMaxDepth, "{}: invalid JSON header: nested too deeply (over {} levels)", who,
            kMaxDepth);
      if (event == Event::object_start) open_objects_keys.emplace_back();
    }
    if (event == Event::object_start || event == Event::array_start || event == Event::value)
      check(++values <= kMaxHeaderValues, "{}: the header holds over {} JSON values", who,
            kMaxHeaderValues);
    if (event == Event::key) {
      const auto& key = parsed.get_ref<const std::string&>();
      check(open_objects_keys.back().insert(key).second,
            "{}: invalid JSON header: duplicate key \"{}\"", who, key);
    }
    if (event == Event::object_end) open_objects_keys.pop_back();
    return true;  // keep every value
  };
  try {
    return Json::parse(text, limits);
  } catch (const Json::parse_error& e) {
    // e.byte counts the characters read, so e.byte - 1 is the offset of the one that failed.
    fail("{}: invalid JSON header at byte {}: {}", who, e.byte > 0 ? e.byte - 1 : 0,
         library_message(e.what()));
  } catch (const Json::exception& e) {  // e.g. a number too large for a double
    fail("{}: invalid JSON header: {}", who, library_message(e.what()));
  }
}

// ---------------------------------------------------------------- saving

// The tensor's bytes as a contiguous CPU tensor (a copy only when it is not one already).
Tensor host_contiguous(const Tensor& t) {
  Tensor c = t.contiguous();
  if (c.device().is_cpu()) return c;
  Tensor host = Tensor::empty(c.shape(), c.dtype());
  host.copy_(c);
  return host;
}

// Writes `bytes` fully to fd, or throws.
void write_all(int fd, const void* data, size_t size, const std::string& who) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    check(n > 0, "{}: write failed: {}", who, std::strerror(errno));
    p += n;
    size -= static_cast<size_t>(n);
  }
}

}  // namespace

void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata) {
  const std::string who = "save_safetensors: " + path;
  NoGradGuard no_grad;

  // Data order: decreasing element size, then name (as the reference writer orders it), so that
  // with the data section 8-byte aligned every tensor is aligned to its element size.
  std::vector<std::pair<const std::string*, const Tensor*>> order;
  for (const auto& [name, tensor] : tensors) order.emplace_back(&name, &tensor);
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    const size_t size_a = a.second->defined() ? itemsize(a.second->dtype()) : 0;
    const size_t size_b = b.second->defined() ? itemsize(b.second->dtype()) : 0;
    return size_a > size_b;  // stable: names stay sorted within one element size
  });

  // The header: the metadata first, then each tensor's entry in data order.
  OrderedJson root = OrderedJson::object();
  // A StateDict's names are unique, so entries are appended to the ordered map's underlying vector
  // directly: its operator[] would search the keys before each insert, quadratic in the tensors.
  auto& entries = root.get_ref<OrderedJson::object_t&>();
  if (!metadata.empty()) {
    OrderedJson meta = OrderedJson::object();
    for (const auto& [key, value] : metadata) meta.get_ref<OrderedJson::object_t&>().emplace_back(key, value);
    entries.emplace_back(std::string(kMetadataKey), std::move(meta));
  }
  std::vector<Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name_ptr, tensor_ptr] : order) {
    const std::string& name = *name_ptr;
    const Tensor& tensor = *tensor_ptr;
    check(name != kMetadataKey, "{}: a tensor may not be named '{}'", who, kMetadataKey);
    check(tensor.defined(), "{}: tensor '{}' is undefined", who, name);
    data.push_back(host_contiguous(tensor));
    const uint64_t nbytes = tensor.numel() * itemsize(tensor.dtype());
    OrderedJson entry = OrderedJson::object();
    entry["dtype"] = safetensors_dtype(tensor.dtype());
    entry["shape"] = std::vector<int64_t>(tensor.shape().begin(), tensor.shape().end());
    entry["data_offsets"] = {offset, offset + nbytes};
    entries.emplace_back(name, std::move(entry));
    offset += nbytes;
  }
  std::string header;
  try {  // compact, UTF-8 kept as it is; invalid UTF-8 in a name or metadata entry throws
    header = root.dump(-1, ' ', false, OrderedJson::error_handler_t::strict);
  } catch (const OrderedJson::type_error& e) {
    fail("{}: a tensor name or metadata entry is not valid UTF-8 ({})", who,
         library_message(e.what()));
  }
  header.append((8 - header.size() % 8) % 8, ' ');  // the data starts 8-byte aligned

  // Write a temporary file beside the target, then rename it over the target (atomic on POSIX).
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = fmt::format("{}.tmp.{}.{}", path, ::getpid(), counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  check(fd >= 0, "{}: cannot create {}: {}", who, tmp, std::strerror(errno));
  try {
    uint8_t length[8];
    const uint64_t n = header.size();
    for (int k = 0; k < 8; ++k) length[k] = static_cast<uint8_t>(n >> (8 * k));
    write_all(fd, length, 8, who);
    write_all(fd, header.data(), header.size(), who);
    for (const Tensor& t : data)
      write_all(fd, t.raw_data(), t.numel() * itemsize(t.dtype()), who);
    check(::fsync(fd) == 0, "{}: fsync failed: {}", who, std::strerror(errno));
    check(::close(fd) == 0, "{}: close failed: {}", who, std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail("{}: cannot rename {} to it: {}", who, tmp, std::strerror(err));
  }
}

// ---------------------------------------------------------------- loading

namespace {

// A tensor's entry in the header, validated.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

uint64_t to_u64(const Json& v, const std::string& who, const std::string& what) {
  check(v.is_number_unsigned(), "{}: {} must be a non-negative integer below 2^64, got {}", who,
        what, v.dump());
  return v.get<uint64_t>();
}

Entry parse_entry(const std::string& name, const Json& info, const std::string& who) {
  const std::string tensor = fmt::format("tensor '{}'", name);
  check(info.is_object(), "{}: the header entry of {} is not an object", who,
        tensor);
  const Json* dtype = nullptr;
  const Json* shape = nullptr;
  const Json* offsets = nullptr;
  for (const auto& [key, value] : info.items()) {
    if (key == "dtype") dtype = &value;
    else if (key == "shape") shape = &value;
    else if (key == "data_offsets") offsets = &value;
    else fail("{}: {} has an unexpected field '{}'", who, tensor, key);
  }
  check(dtype && shape && offsets, "{}: {} needs the fields dtype, shape and data_offsets", who,
        tensor);

  Entry e{name, DType::f32, {}, 0, 0};
  check(dtype->is_string(), "{}: the dtype of {} is not a string", who, tensor);
  const auto& dtype_name = dtype->get_ref<const std::string&>();
  check(parse_dtype(dtype_name, &e.dtype),
        "{}: {} has unsupported dtype '{}' (dyngrad reads F32, F64, I64 and BOOL)", who, tensor,
        dtype_name);

  check(shape->is_array(), "{}: the shape of {} is not an array", who, tensor);
  check(shape->size() <= static_cast<size_t>(Shape::kMaxDims),
        "{}: {} has {} dims; dyngrad supports at most {}", who, tensor, shape->size(),
        Shape::kMaxDims);
  // Bounded so that a corrupt shape cannot overflow the byte count below.
  constexpr uint64_t kMaxElements = uint64_t{1} << 56;
  uint64_t numel = 1;
  for (const Json& d : *shape) {
    const uint64_t size = to_u64(d, who, "every dim of the shape of " + tensor);
    check(size <= kMaxElements && (size == 0 || numel <= kMaxElements / size),
          "{}: {} has an impossible shape (over 2^56 elements)", who, tensor);
    e.shape.push_back(static_cast<int64_t>(size));
    numel *= size;
  }

  check(offsets->is_array() && offsets->size() == 2,
        "{}: the data_offsets of {} must be an array [begin, end]", who, tensor);
  e.begin = to_u64((*offsets)[0], who, "data_offsets of " + tensor);
  e.end = to_u64((*offsets)[1], who, "data_offsets of " + tensor);
  check(e.begin <= e.end, "{}: {} has data_offsets [{}, {}] with begin after end", who, tensor,
        e.begin, e.end);
  const uint64_t nbytes = numel * itemsize(e.dtype);
  check(e.end - e.begin == nbytes,
        "{}: {} of dtype {} and shape {} needs {} bytes but its data_offsets [{}, {}] span {}", who,
        tensor, dtype_name, e.shape, nbytes, e.begin, e.end, e.end - e.begin);
  return e;
}

// Reads exactly `size` bytes at `offset`, or throws.
void read_at(std::ifstream& in, uint64_t offset, void* out, uint64_t size, const std::string& who) {
  if (size == 0) return;
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(static_cast<char*>(out), static_cast<std::streamsize>(size));
  check(static_cast<uint64_t>(in.gcount()) == size, "{}: read failed at byte {} (file truncated "
        "while reading?)", who, offset);
}

}  // namespace

StateDict load_safetensors(const std::string& path, Metadata* metadata) {
  const std::string who = "load_safetensors: " + path;
  std::error_code error;
  check(!std::filesystem::is_directory(path, error), "{}: is a directory, not a file", who);
  std::ifstream in(path, std::ios::binary);
  check(in.is_open(), "{}: cannot open the file: {}", who, std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff end = in.tellg();
  check(in.good() && end >= 0, "{}: cannot determine the file's size", who);
  const auto file_size = static_cast<uint64_t>(end);

  check(file_size >= 8, "{}: the file has {} bytes, too few for the 8-byte header length", who,
        file_size);
  uint8_t length[8];
  read_at(in, 0, length, 8, who);
  uint64_t header_size = 0;
  for (int k = 0; k < 8; ++k) header_size |= static_cast<uint64_t>(length[k]) << (8 * k);
  check(header_size <= file_size - 8, "{}: the header length {} runs past the end of the file "
        "({} bytes): truncated or not a safetensors file", who, header_size, file_size);
  check(header_size <= kMaxHeaderBytes, "{}: the header length {} exceeds the limit of {} bytes",
        who, header_size, kMaxHeaderBytes);
  check(header_size >= 2, "{}: the header length {} is too small for a JSON object", who,
        header_size);
  std::string header(header_size, '\0');
  read_at(in, 8, header.data(), header_size, who);
  const Json root = parse_header(header, who);
  check(root.is_object(), "{}: the header is not a JSON object", who);

  // Every entry, then their byte ranges: sorted, they must tile the data section exactly.
  const uint64_t data_start = 8 + header_size;
  const uint64_t data_size = file_size - data_start;
  Metadata meta;
  std::vector<Entry> entries;
  for (const auto& [name, value] : root.items()) {
    if (name == kMetadataKey) {
      check(value.is_object(), "{}: __metadata__ is not an object", who);
      for (const auto& [key, text] : value.items()) {
        check(text.is_string(), "{}: __metadata__ value of '{}' is not a string",
              who, key);
        meta[key] = text.get<std::string>();
      }
    } else {
      entries.push_back(parse_entry(name, value, who));
    }
  }
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) by_offset.push_back(&e);
  std::stable_sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t covered = 0;  // bytes [0, covered) belong to the entries seen so far
  const Entry* previous = nullptr;
  for (const Entry* e : by_offset) {
    check(e->end <= data_size, "{}: tensor '{}' has data_offsets [{}, {}] past the end of the "
          "data ({} bytes): truncated file?", who, e->name, e->begin, e->end, data_size);
    check(e->begin >= covered, "{}: tensor '{}' (bytes [{}, {}]) overlaps tensor '{}' (ending at "
          "{})", who, e->name, e->begin, e->end, previous ? previous->name : "", covered);
    check(e->begin == covered, "{}: the data has a gap: bytes [{}, {}] belong to no tensor", who,
          covered, e->begin);
    covered = e->end;
    previous = e;
  }
  check(covered == data_size, "{}: the data section has {} bytes but the tensors cover only {}",
        who, data_size, covered);

  // Everything is consistent: read the data straight into the new tensors.
  StateDict out;
  for (const Entry* e : by_offset) {
    Tensor t = Tensor::empty(e->shape, e->dtype);
    read_at(in, data_start + e->begin, t.raw_data(), e->end - e->begin, who);
    if (e->dtype == DType::b8) {  // any byte but 0 and 1 would be an invalid C++ bool
      const auto* bytes = static_cast<const uint8_t*>(t.raw_data());
      for (int64_t i = 0; i < t.numel(); ++i)
        check(bytes[i] <= 1, "{}: tensor '{}' of dtype BOOL holds the byte {} (expected 0 or 1)",
              who, e->name, bytes[i]);
    }
    out.emplace(e->name, std::move(t));
  }
  if (metadata) *metadata = std::move(meta);
  return out;
}

}  // namespace dg::nn
