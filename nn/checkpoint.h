// Checkpoints: a StateDict saved to and loaded from a file in the safetensors format, so that other
// tools (Python's safetensors, PyTorch, NumPy) read what dyngrad writes and the other way round.
//
// The format: an 8-byte little-endian header length N; N bytes of JSON mapping each tensor name to
// {"dtype": "F32" | "F64" | "I64" | "BOOL", "shape": [...], "data_offsets": [begin, end]}, plus an
// optional "__metadata__" object of string values; then the tensors' raw little-endian bytes,
// packed without gaps in the header's order (offsets count from the end of the header). Like the
// reference writer, dyngrad orders tensors by decreasing element size, then name, and pads the
// header with spaces to a multiple of 8 bytes, so every tensor's data is aligned.
//
// Loading checks everything before it returns: a truncated, corrupted or inconsistent file (bad
// header length, invalid JSON or UTF-8, unknown dtype, a shape that disagrees with the byte count,
// offsets out of range, overlapping or leaving gaps, duplicate names, invalid bool bytes) throws a
// dg::Error naming the file and the problem, and nothing is returned. Saving writes a temporary file
// beside the target and renames it into place, so a crash never leaves a half-written checkpoint.
#pragma once

#include <map>
#include <string>

#include "nn/state_dict.h"

namespace dg::nn {

// Free-form string pairs stored in the header's "__metadata__" (e.g. the step, the config).
using Metadata = std::map<std::string, std::string>;

// Writes every tensor of `tensors` (any device, any strides) to `path`, replacing it atomically.
void save_safetensors(const std::string& path, const StateDict& tensors,
                      const Metadata& metadata = {});

// Reads a safetensors file into CPU tensors; fills *metadata when given.
StateDict load_safetensors(const std::string& path, Metadata* metadata = nullptr);

}  // namespace dg::nn
