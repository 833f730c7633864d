// mpt: control CLI. Talks to a running mptd over its Unix control socket (root only): the
// tunnel's own, /run/mpt/<tun name>.sock (cli/control_socket_paths.h), found by -i NAME, or
// the only one running; --socket PATH names one directly.
//   mpt [-i NAME | --socket PATH] status [--json]
//   mpt show                     every running tunnel
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/control_socket_paths.h"

namespace {

void usage(FILE* f) {
  std::fprintf(f,
               "Usage: mpt [-i NAME | --socket PATH] COMMAND\n"
               "  -i, --interface NAME  the tunnel whose TUN device is NAME (its mptd's socket is\n"
               "                        %s/NAME.sock); without it, the only running tunnel\n"
               "  -s, --socket PATH     the control socket of an mptd started with --socket\n"
               "Commands:\n"
               "  show              every running tunnel: name, socket, connections, paths up\n"
               "  status [--json]   tunnel, path and counter status of the running mptd\n"
               "  show status       the original MPT's spelling of 'status'\n"
               "  path up|down CONNECTION PATH\n"
               "                    take path number PATH of CONNECTION (its [connection]\n"
               "                    name) administratively down, or back up (tells the peer)\n"
               "  path weight CONNECTION PATH W\n"
               "                    set the path's weight (0..10000, 0 = standby) on both sides\n"
               "  int IF up|down    every path on interface IF administratively up or down\n"
               "  genkey            print a fresh random pre-shared key (32 bytes, base64) for\n"
               "                    auth_key, or for a key file: mpt genkey > k.key; chmod 600 k.key\n"
               "  reload            re-read the configuration and apply it live (paths,\n"
               "                    connections, keys, routes, weights, states); only a TUN\n"
               "                    change (name, MTU, addresses) needs a restart\n",
               mpt::cli::run_dir().c_str());
}

// Connects to an mptd's control socket; -1 with errno set (and nothing printed) on failure.
int connect_to(const std::string& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

// One request, its whole reply; nullopt (with a message) when mptd cannot be reached.
std::optional<std::string> ask_mptd(const std::string& socket_path, const std::string& line) {
  const int fd = connect_to(socket_path);
  if (fd < 0) {
    std::fprintf(stderr, "mpt: cannot reach mptd at %s: %s\n", socket_path.c_str(),
                 std::strerror(errno));
    return std::nullopt;
  }
  const std::string msg = line + "\n";
  if (::write(fd, msg.data(), msg.size()) != static_cast<ssize_t>(msg.size())) {
    std::perror("mpt: write");
    ::close(fd);
    return std::nullopt;
  }
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) reply.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return reply;
}

int request(const std::string& socket_path, const std::string& line) {
  const auto reply = ask_mptd(socket_path, line);
  if (!reply) return 1;
  std::fputs(reply->c_str(), stdout);
  return reply->rfind("error:", 0) == 0 || reply->rfind("partly applied:", 0) == 0 ? 1 : 0;
}

// The running tunnels: sockets in the run directory that an mptd answers on (a socket left
// by an mptd that was killed refuses the connection and is skipped), by TUN name.
struct Tunnel {
  std::string name;
  std::string socket;
};
std::vector<Tunnel> running_tunnels() {
  namespace fs = std::filesystem;
  std::vector<Tunnel> out;
  std::error_code ec;
  for (fs::directory_iterator it(mpt::cli::run_dir(), ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const fs::path p = it->path();
    if (p.extension() != ".sock" || !it->is_socket(ec)) continue;
    const int fd = connect_to(p.string());
    if (fd < 0) continue;
    ::close(fd);
    out.push_back({p.stem().string(), p.string()});
  }
  std::sort(out.begin(), out.end(), [](const Tunnel& a, const Tunnel& b) { return a.name < b.name; });
  return out;
}

// `mpt show`: one line per running tunnel.
int show_tunnels() {
  const auto tunnels = running_tunnels();
  if (tunnels.empty()) {
    std::printf("no tunnel is running (no mptd answers in %s)\n", mpt::cli::run_dir().c_str());
    return 0;
  }
  for (const Tunnel& t : tunnels) {
    std::string summary = "(no status)";
    if (const auto reply = ask_mptd(t.socket, "status --json")) {
      const auto j = nlohmann::json::parse(*reply, nullptr, false);
      if (!j.is_discarded() && j.contains("paths") && j.contains("connections")) {
        std::size_t up = 0;
        for (const auto& h : j.value("health", nlohmann::json::array())) {
          if (h.value("state", "") == "up") ++up;
        }
        summary = std::to_string(j["connections"].size()) + " connection(s), " +
                  std::to_string(j["paths"].size()) + " path(s), " + std::to_string(up) + " up";
      }
    }
    std::printf("%-16s %s  %s\n", t.name.c_str(), summary.c_str(), t.socket.c_str());
  }
  return 0;
}

// The socket to talk to: --socket, else -i NAME's, else the only running tunnel's.
std::optional<std::string> choose_socket(const std::string& socket, const std::string& iface) {
  if (!socket.empty()) return socket;
  if (!iface.empty()) return mpt::cli::tunnel_socket(iface);
  const auto tunnels = running_tunnels();
  if (tunnels.size() == 1) return tunnels.front().socket;
  if (tunnels.empty()) {
    std::fprintf(stderr, "mpt: no tunnel is running (no mptd answers in %s); start mptd, or "
                 "name an mptd's socket with --socket PATH\n", mpt::cli::run_dir().c_str());
    return std::nullopt;
  }
  std::string names;
  for (const Tunnel& t : tunnels) names += (names.empty() ? "" : ", ") + t.name;
  std::fprintf(stderr, "mpt: several tunnels are running (%s): choose one with -i NAME\n",
               names.c_str());
  return std::nullopt;
}

}  // namespace

// `mpt genkey`: 32 bytes from OpenSSL's CSPRNG, base64 (44 characters).
int genkey() {
  unsigned char key[32];
  if (RAND_bytes(key, sizeof key) != 1) {
    std::fprintf(stderr, "mpt: genkey: no random bytes from OpenSSL\n");
    return 1;
  }
  unsigned char text[4 * ((sizeof key + 2) / 3) + 1];
  EVP_EncodeBlock(text, key, sizeof key);
  OPENSSL_cleanse(key, sizeof key);
  std::printf("%s\n", reinterpret_cast<const char*>(text));
  return 0;
}

int main(int argc, char** argv) {
  std::string socket_opt, iface;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--socket" || a == "-s") && i + 1 < argc) {
      socket_opt = argv[++i];
    } else if ((a == "--interface" || a == "-i") && i + 1 < argc) {
      iface = argv[++i];
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else {
      args.push_back(a);
    }
  }
  if (args.empty()) {
    usage(stderr);
    return 2;
  }
  if (args[0] == "genkey" && args.size() == 1) return genkey();
  if (args[0] == "show" && args.size() == 1) return show_tunnels();
  // The socket is looked for only once the command is known to need one.
  const auto req = [&](const std::string& line) {
    const auto chosen = choose_socket(socket_opt, iface);
    return chosen ? request(*chosen, line) : 1;
  };
  if (args[0] == "status" && args.size() == 1) return req("status");
  if (args[0] == "status" && args.size() == 2 && args[1] == "--json") {
    return req("status --json");
  }
  if (args[0] == "show" && args.size() == 2 && args[1] == "status") {
    return req("show status");
  }
  if (args[0] == "path" && args.size() == 4 && (args[1] == "up" || args[1] == "down")) {
    return req("path " + args[1] + " " + args[2] + " " + args[3]);
  }
  if (args[0] == "reload" && args.size() == 1) return req("reload");
  if (args[0] == "path" && args.size() == 5 && args[1] == "weight") {
    return req("path weight " + args[2] + " " + args[3] + " " + args[4]);
  }
  if ((args[0] == "int" || args[0] == "interface") && args.size() == 3 &&
      (args[2] == "up" || args[2] == "down")) {
    return req("int " + args[1] + " " + args[2]);
  }
  std::fprintf(stderr, "mpt: unknown command '%s'\n", args[0].c_str());
  usage(stderr);
  return 2;
}
