// Where mptd's control sockets live, shared by mptd and mpt: one per tunnel, named after its
// TUN device, as WireGuard names wg's -- /run/mpt/<tun name>.sock (the directory from
// MPT_RUN_DIR when set, so that tests and unprivileged experiments keep to their own).
#pragma once

#include <cstdlib>
#include <string>

namespace mpt::cli {

[[nodiscard]] inline std::string run_dir() {
  const char* d = std::getenv("MPT_RUN_DIR");
  return d && *d ? std::string(d) : std::string("/run/mpt");
}

[[nodiscard]] inline std::string tunnel_socket(const std::string& tun_name) {
  return run_dir() + "/" + tun_name + ".sock";
}

}  // namespace mpt::cli
