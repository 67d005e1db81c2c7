// Parsing data.noun into the synset graph, and the breadth-first searches behind path similarity
// (see wordnet_graph.h). Each line is split into its space-separated fields before the '|'; the
// counts w_cnt and p_cnt must then account for exactly those fields.
#include "datasets/wordnet_graph.h"

#include <algorithm>
#include <deque>
#include <unordered_set>

#include "datasets/io.h"
#include "engine/error.h"

namespace dg::data {
namespace {

constexpr int kFirstNounFile = 3, kLastNounFile = 28;

bool all_of_width(std::string_view s, size_t width, bool hex) {
  if (s.size() != width) return false;
  return std::all_of(s.begin(), s.end(), [hex](char c) {
    return (c >= '0' && c <= '9') || (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
  });
}

uint32_t parse_number(std::string_view s, int base) {
  uint32_t value = 0;
  for (char c : s) {
    const uint32_t digit = (c >= '0' && c <= '9')   ? c - '0'
                           : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                                    : c - 'A' + 10;
    value = value * base + digit;
  }
  return value;
}

std::string_view trim(std::string_view s) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_spaces(std::string_view s) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (pos < s.size()) {
    while (pos < s.size() && s[pos] == ' ') ++pos;
    const size_t end = std::min(s.find(' ', pos), s.size());
    if (end > pos) fields.push_back(s.substr(pos, end - pos));
    pos = end;
  }
  return fields;
}

struct PendingPointer {
  int32_t source;
  uint32_t target_offset;
  bool instance;
  int64_t line_number;
};

}  // namespace

int32_t WordNetGraph::index_of(uint32_t offset) const {
  const auto it = index_.find(offset);
  return it == index_.end() ? -1 : it->second;
}

void WordNetGraph::build_index() {
  index_.clear();
  for (int32_t i = 0; i < size(); ++i) index_.emplace(synsets[i].offset, i);
}

void WordNetGraph::check_index(int32_t s) const {
  check(s >= 0 && s < size(), "wordnet_graph: synset index {} out of range [0, {})", s, size());
}

std::vector<int32_t> WordNetGraph::parents(int32_t s) const {
  check_index(s);
  std::vector<int32_t> up = synsets[s].hypernyms;
  up.insert(up.end(), synsets[s].instance_hypernyms.begin(), synsets[s].instance_hypernyms.end());
  return up;
}

std::vector<std::pair<int32_t, int32_t>> WordNetGraph::ancestor_distances(int32_t s) const {
  check_index(s);
  // NLTK's _shortest_hypernym_paths: breadth-first, so the first visit has the fewest links.
  std::vector<std::pair<int32_t, int32_t>> found{{s, 0}};
  std::unordered_set<int32_t> seen{s};
  for (size_t next = 0; next < found.size(); ++next) {
    const auto [node, depth] = found[next];
    for (const auto* links : {&synsets[node].hypernyms, &synsets[node].instance_hypernyms})
      for (int32_t up : *links)
        if (seen.insert(up).second) found.emplace_back(up, depth + 1);
  }
  return found;
}

bool WordNetGraph::is_ancestor(int32_t ancestor, int32_t s) const {
  check_index(ancestor);
  if (ancestor == s) return false;
  for (const auto& [node, depth] : ancestor_distances(s))
    if (node == ancestor) return true;
  return false;
}

bool WordNetGraph::directly_linked(int32_t a, int32_t b) const {
  check_index(a);
  check_index(b);
  const auto links_to = [this](int32_t from, int32_t to) {
    const WordNetSynset& s = synsets[from];
    return std::find(s.hypernyms.begin(), s.hypernyms.end(), to) != s.hypernyms.end() ||
           std::find(s.instance_hypernyms.begin(), s.instance_hypernyms.end(), to) !=
               s.instance_hypernyms.end();
  };
  return links_to(a, b) || links_to(b, a);
}

std::optional<int32_t> WordNetGraph::path_distance(int32_t a, int32_t b) const {
  check_index(a);
  check_index(b);
  if (a == b) return 0;
  std::unordered_map<int32_t, int32_t> up_from_a;
  for (const auto& [node, depth] : ancestor_distances(a)) up_from_a.emplace(node, depth);
  std::optional<int32_t> best;
  for (const auto& [node, depth] : ancestor_distances(b)) {
    const auto it = up_from_a.find(node);
    if (it != up_from_a.end() && (!best || it->second + depth < *best)) best = it->second + depth;
  }
  return best;
}

std::optional<double> WordNetGraph::path_similarity(int32_t a, int32_t b) const {
  const std::optional<int32_t> distance = path_distance(a, b);
  if (!distance) return std::nullopt;
  return 1.0 / (1.0 + *distance);
}

WordNetGraph read_wordnet_graph(const std::string& path) {
  const std::vector<uint8_t> bytes =
      read_file_bytes(path, "wordnet",
                      "WordNet's data files come from the Debian package wordnet-base (apt-get "
                      "install wordnet-base)");
  const std::string_view text = utf8_text(bytes, "wordnet", path);

  WordNetGraph graph;
  std::vector<PendingPointer> pending;
  std::unordered_map<uint32_t, int64_t> line_of_offset;
  size_t pos = 0;
  int64_t line_number = 0;
  while (pos < text.size()) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (line.starts_with("  ") || trim(line).empty()) continue;  // license header, blank lines

    const auto bad = [&](std::string_view why) {
      fail("wordnet: '{}' line {}: not a synset line ({}): '{}'", path, line_number, why,
           line.substr(0, 60));
    };
    const size_t bar = line.find('|');
    if (bar == std::string_view::npos) bad("no '|' before the gloss");
    const std::vector<std::string_view> f = split_spaces(line.substr(0, bar));
    if (f.size() < 5) bad("fewer than 5 fields before '|'");
    if (!all_of_width(f[0], 8, false)) bad("synset_offset is not 8 decimal digits");
    if (!all_of_width(f[1], 2, false)) bad("lex_filenum is not 2 decimal digits");
    if (f[2] != "n") bad("ss_type is not 'n' (data.noun holds nouns)");
    if (!all_of_width(f[3], 2, true)) bad("w_cnt is not 2 hexadecimal digits");
    const int lex_file = static_cast<int>(parse_number(f[1], 10));
    check(lex_file >= kFirstNounFile && lex_file <= kLastNounFile,
          "wordnet: '{}' line {}: lexicographer file {:02d} is not a noun file (03-28)", path,
          line_number, lex_file);
    const size_t words = parse_number(f[3], 16);
    if (words == 0) bad("w_cnt is 0");
    const size_t p_field = 4 + 2 * words;  // within bounds: checked before it is read
    if (f.size() <= p_field) bad("fewer fields than w_cnt words and p_cnt need");
    if (!all_of_width(f[p_field], 3, false))
      fail(
          "wordnet: '{}' line {}: not a synset line (p_cnt, field {} after {} words, is not 3 "
          "decimal digits: '{}'): '{}'",
          path, line_number, p_field + 1, words, f[p_field].substr(0, 16), line.substr(0, 60));
    const size_t pointers = parse_number(f[p_field], 10);
    if (f.size() != p_field + 1 + 4 * pointers)
      fail(
          "wordnet: '{}' line {}: not a synset line ({} words and {} pointers need {} fields "
          "before '|', found {}): '{}'",
          path, line_number, words, pointers, p_field + 1 + 4 * pointers, f.size(),
          line.substr(0, 60));

    WordNetSynset synset;
    synset.offset = parse_number(f[0], 10);
    synset.lex_file = lex_file;
    const int32_t index = graph.size();
    for (size_t w = 0; w < words; ++w) {
      if (!all_of_width(f[5 + 2 * w], 1, true)) bad("lex_id is not 1 hexadecimal digit");
      synset.lemmas.emplace_back(f[4 + 2 * w]);
    }
    for (size_t p = 0; p < pointers; ++p) {
      const std::string_view symbol = f[p_field + 1 + 4 * p], target = f[p_field + 2 + 4 * p],
                             part = f[p_field + 3 + 4 * p], source = f[p_field + 4 + 4 * p];
      if (!all_of_width(target, 8, false)) bad("a pointer's synset_offset is not 8 digits");
      if (part.size() != 1 || std::string_view("nvasr").find(part[0]) == std::string_view::npos)
        bad("a pointer's pos is not one of n v a s r");
      if (!all_of_width(source, 4, true)) bad("a pointer's source/target is not 4 hex digits");
      if (part == "n" && (symbol == "@" || symbol == "@i"))
        pending.push_back({index, parse_number(target, 10), symbol == "@i", line_number});
    }
    synset.gloss = std::string(trim(line.substr(bar + 1)));
    check(!synset.gloss.empty(), "wordnet: '{}' line {}: empty gloss", path, line_number);
    const auto [it, fresh] = line_of_offset.emplace(synset.offset, line_number);
    check(fresh, "wordnet: '{}' line {}: synset offset {:08d} already defined on line {}", path,
          line_number, synset.offset, it->second);
    graph.synsets.push_back(std::move(synset));
  }
  check(!graph.synsets.empty(), "wordnet: '{}' holds no synsets", path);

  graph.build_index();
  graph.hyponyms.assign(graph.synsets.size(), {});
  for (const PendingPointer& p : pending) {
    const int32_t target = graph.index_of(p.target_offset);
    check(target >= 0,
          "wordnet: '{}' line {}: {} pointer to {:08d}, which no synset line of the file defines",
          path, p.line_number, p.instance ? "instance hypernym '@i'" : "hypernym '@'",
          p.target_offset);
    std::vector<int32_t>& links =
        p.instance ? graph.synsets[p.source].instance_hypernyms : graph.synsets[p.source].hypernyms;
    if (std::find(links.begin(), links.end(), target) != links.end()) continue;  // a repeat
    links.push_back(target);
    graph.hyponyms[target].push_back(p.source);
  }
  return graph;
}

}  // namespace dg::data
