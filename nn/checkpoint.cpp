// safetensors reading and writing (see checkpoint.h). The header is JSON, so this file carries a
// small JSON writer and a strict JSON parser (RFC 8259: objects, arrays, strings with escapes,
// numbers, literals; duplicate keys rejected; nesting depth bounded), enough for the header and no
// more, to avoid a dependency. Loading validates the whole header against the file size before it
// allocates or reads any tensor data.
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

// ---------------------------------------------------------------- UTF-8

// Whether `s` is well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    int extra;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xC2 && c <= 0xDF) { extra = 1; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { extra = 2; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { extra = 3; cp = c & 0x07; }
    else return false;
    if (i + extra >= s.size()) return false;  // truncated sequence
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((extra == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
      return false;
    i += extra + 1;
  }
  return true;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// ---------------------------------------------------------------- JSON

// A parsed JSON value. Numbers keep their literal text: the header only holds integers, and they
// are converted (and range-checked) where their meaning is known.
struct Json {
  enum class Kind { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  bool boolean = false;
  std::string text;                                   // a string's value or a number's literal
  std::vector<Json> items;                            // array elements
  std::vector<std::pair<std::string, Json>> members;  // object members, in file order
  // Declared here, defined once Json is complete: clang needs a complete type to default-construct
  // a std::pair<std::string, Json> member.
  Json();
};
Json::Json() = default;

class JsonParser {
 public:
  // `context` prefixes every error ("load_safetensors: model.safetensors").
  JsonParser(std::string_view text, std::string context)
      : s_(text), context_(std::move(context)) {}

  // The whole text must be one value (whitespace around it allowed).
  Json parse_document() {
    Json v = value(0);
    skip_whitespace();
    if (pos_ != s_.size()) error("unexpected characters after the JSON value");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 64;

  [[noreturn]] void error(std::string_view what) const {
    fail("{}: invalid JSON header at byte {}: {}", context_, pos_, what);
  }

  void skip_whitespace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }

  void expect(char c) {
    skip_whitespace();
    if (peek() != c) error(pos_ < s_.size() ? fmt::format("expected '{}'", c)
                                            : fmt::format("expected '{}', found the end", c));
    ++pos_;
  }

  Json value(int depth) {
    if (depth > kMaxDepth) error("nested too deeply");
    skip_whitespace();
    const char c = peek();
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') {
      Json v;
      v.kind = Json::Kind::string;
      v.text = string();
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    for (auto [word, kind, truth] : {std::tuple{"true", Json::Kind::boolean, true},
                                     std::tuple{"false", Json::Kind::boolean, false},
                                     std::tuple{"null", Json::Kind::null, false}}) {
      if (s_.substr(pos_, std::strlen(word)) == word) {
        pos_ += std::strlen(word);
        Json v;
        v.kind = kind;
        v.boolean = truth;
        return v;
      }
    }
    error(pos_ < s_.size() ? "expected a value" : "expected a value, found the end");
  }

  Json object(int depth) {
    Json v;
    v.kind = Json::Kind::object;
    std::set<std::string> keys;
    expect('{');
    skip_whitespace();
    if (peek() == '}') {
      ++pos_;
      return v;
    }
    while (true) {
      skip_whitespace();
      if (peek() != '"') error("expected a string key");
      std::string key = string();
      if (!keys.insert(key).second) error(fmt::format("duplicate key \"{}\"", key));
      expect(':');
      v.members.emplace_back(std::move(key), value(depth + 1));
      skip_whitespace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect('}');
      return v;
    }
  }

  Json array(int depth) {
    Json v;
    v.kind = Json::Kind::array;
    expect('[');
    skip_whitespace();
    if (peek() == ']') {
      ++pos_;
      return v;
    }
    while (true) {
      v.items.push_back(value(depth + 1));
      skip_whitespace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect(']');
      return v;
    }
  }

  uint32_t hex4() {
    if (pos_ + 4 > s_.size()) error("truncated \\u escape");
    uint32_t cp = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[pos_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= h - '0';
      else if (h >= 'a' && h <= 'f') cp |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') cp |= h - 'A' + 10;
      else error("invalid \\u escape");
    }
    return cp;
  }

  // A string starting at the opening quote; the text was checked to be UTF-8 beforehand.
  std::string string() {
    ++pos_;  // the opening quote
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) error("unterminated string");
      const char c = s_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) error("unterminated string");
      switch (s_[pos_++]) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) error("unpaired low surrogate in a \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // a high surrogate must be followed by a low one
            if (s_.substr(pos_, 2) != "\\u") error("unpaired high surrogate in a \\u escape");
            pos_ += 2;
            const uint32_t low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) error("unpaired high surrogate in a \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: --pos_; error("invalid escape in a string");
      }
    }
  }

  Json number() {
    const size_t start = pos_;
    auto digits = [&] {
      const size_t from = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - from;
    };
    if (peek() == '-') ++pos_;
    if (peek() == '0') ++pos_;
    else if (digits() == 0) error("invalid number");
    if (peek() == '.') {
      ++pos_;
      if (digits() == 0) error("invalid number");
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (digits() == 0) error("invalid number");
    }
    Json v;
    v.kind = Json::Kind::number;
    v.text = std::string(s_.substr(start, pos_ - start));
    return v;
  }

  std::string_view s_;
  std::string context_;
  size_t pos_ = 0;
};

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<int>(c));
        else out += c;
    }
  }
  out += '"';
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

  // The header, with each tensor's offsets in name order.
  std::string header = "{";
  if (!metadata.empty()) {
    append_json_string(header, kMetadataKey);
    header += ":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      check(is_valid_utf8(key) && is_valid_utf8(value),
            "{}: metadata entry '{}' is not valid UTF-8", who, key);
      if (!first) header += ',';
      first = false;
      append_json_string(header, key);
      header += ':';
      append_json_string(header, value);
    }
    header += "}";
  }
  // Data order: decreasing element size, then name (as the reference writer orders it), so that
  // with the data section 8-byte aligned every tensor is aligned to its element size.
  std::vector<std::pair<const std::string*, const Tensor*>> order;
  for (const auto& [name, tensor] : tensors) order.emplace_back(&name, &tensor);
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    const size_t size_a = a.second->defined() ? itemsize(a.second->dtype()) : 0;
    const size_t size_b = b.second->defined() ? itemsize(b.second->dtype()) : 0;
    return size_a > size_b;  // stable: names stay sorted within one element size
  });
  std::vector<Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name_ptr, tensor_ptr] : order) {
    const std::string& name = *name_ptr;
    const Tensor& tensor = *tensor_ptr;
    check(name != kMetadataKey, "{}: a tensor may not be named '{}'", who, kMetadataKey);
    check(is_valid_utf8(name), "{}: tensor name '{}' is not valid UTF-8", who, name);
    check(tensor.defined(), "{}: tensor '{}' is undefined", who, name);
    data.push_back(host_contiguous(tensor));
    const uint64_t nbytes = tensor.numel() * itemsize(tensor.dtype());
    if (header.size() > 1) header += ',';
    append_json_string(header, name);
    header += fmt::format(":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
                          safetensors_dtype(tensor.dtype()),
                          fmt::join(tensor.shape().begin(), tensor.shape().end(), ","), offset,
                          offset + nbytes);
    offset += nbytes;
  }
  header += '}';
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
  bool ok = v.kind == Json::Kind::number && !v.text.empty() && v.text.size() <= 19;
  for (char c : v.text) ok = ok && c >= '0' && c <= '9';
  check(ok, "{}: {} must be a non-negative integer below 10^19, got {}", who, what,
        v.kind == Json::Kind::number ? v.text : "a non-number");
  return std::stoull(v.text);
}

Entry parse_entry(const std::string& name, const Json& info, const std::string& who) {
  const std::string tensor = fmt::format("tensor '{}'", name);
  check(info.kind == Json::Kind::object, "{}: the header entry of {} is not an object", who,
        tensor);
  const Json* dtype = nullptr;
  const Json* shape = nullptr;
  const Json* offsets = nullptr;
  for (const auto& [key, value] : info.members) {
    if (key == "dtype") dtype = &value;
    else if (key == "shape") shape = &value;
    else if (key == "data_offsets") offsets = &value;
    else fail("{}: {} has an unexpected field '{}'", who, tensor, key);
  }
  check(dtype && shape && offsets, "{}: {} needs the fields dtype, shape and data_offsets", who,
        tensor);

  Entry e{name, DType::f32, {}, 0, 0};
  check(dtype->kind == Json::Kind::string, "{}: the dtype of {} is not a string", who, tensor);
  check(parse_dtype(dtype->text, &e.dtype),
        "{}: {} has unsupported dtype '{}' (dyngrad reads F32, F64, I64 and BOOL)", who, tensor,
        dtype->text);

  check(shape->kind == Json::Kind::array, "{}: the shape of {} is not an array", who, tensor);
  check(shape->items.size() <= static_cast<size_t>(Shape::kMaxDims),
        "{}: {} has {} dims; dyngrad supports at most {}", who, tensor, shape->items.size(),
        Shape::kMaxDims);
  // Bounded so that a corrupt shape cannot overflow the byte count below.
  constexpr uint64_t kMaxElements = uint64_t{1} << 56;
  uint64_t numel = 1;
  for (const Json& d : shape->items) {
    const uint64_t size = to_u64(d, who, "every dim of the shape of " + tensor);
    check(size <= kMaxElements && (size == 0 || numel <= kMaxElements / size),
          "{}: {} has an impossible shape (over 2^56 elements)", who, tensor);
    e.shape.push_back(static_cast<int64_t>(size));
    numel *= size;
  }

  check(offsets->kind == Json::Kind::array && offsets->items.size() == 2,
        "{}: the data_offsets of {} must be an array [begin, end]", who, tensor);
  e.begin = to_u64(offsets->items[0], who, "data_offsets of " + tensor);
  e.end = to_u64(offsets->items[1], who, "data_offsets of " + tensor);
  check(e.begin <= e.end, "{}: {} has data_offsets [{}, {}] with begin after end", who, tensor,
        e.begin, e.end);
  const uint64_t nbytes = numel * itemsize(e.dtype);
  check(e.end - e.begin == nbytes,
        "{}: {} of dtype {} and shape {} needs {} bytes but its data_offsets [{}, {}] span {}", who,
        tensor, dtype->text, e.shape, nbytes, e.begin, e.end, e.end - e.begin);
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
  check(is_valid_utf8(header), "{}: the header is not valid UTF-8", who);
  const Json root = JsonParser(header, who).parse_document();
  check(root.kind == Json::Kind::object, "{}: the header is not a JSON object", who);

  // Every entry, then their byte ranges: sorted, they must tile the data section exactly.
  const uint64_t data_start = 8 + header_size;
  const uint64_t data_size = file_size - data_start;
  Metadata meta;
  std::vector<Entry> entries;
  for (const auto& [name, value] : root.members) {
    if (name == kMetadataKey) {
      check(value.kind == Json::Kind::object, "{}: __metadata__ is not an object", who);
      for (const auto& [key, text] : value.members) {
        check(text.kind == Json::Kind::string, "{}: __metadata__ value of '{}' is not a string",
              who, key);
        meta[key] = text.text;
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
