// Where a tensor's storage lives. The CPU backend is always present; cuda:0 is served by the CUDA
// backend (cuda/) in a build configured with it (DG_CUDA, CMakeLists.txt), and using a cuda device
// in a build without it is a dg::Error. Tensor::to(Device) moves a tensor between devices.
#pragma once

#include <string_view>

#include <fmt/format.h>

namespace dg {

enum class DeviceType : uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::cuda, index}; }
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool operator==(const Device&) const = default;
};

}  // namespace dg

template <>
struct fmt::formatter<dg::Device> : fmt::formatter<std::string_view> {
  auto format(dg::Device d, format_context& ctx) const {
    if (d.is_cpu()) return fmt::formatter<std::string_view>::format("cpu", ctx);
    return fmt::format_to(ctx.out(), "cuda:{}", d.index);
  }
};
