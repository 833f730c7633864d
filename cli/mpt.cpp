// mpt: control CLI. Talks to a running mptd over its Unix control socket (root only).
//   mpt [--socket PATH] status [--json]
//   mpt [--socket PATH] show status
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr const char* kDefaultSocket = "/run/mpt/mptd.sock";

void usage(FILE* f) {
  std::fprintf(f,
               "Usage: mpt [--socket PATH] COMMAND\n"
               "Commands:\n"
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
               "                    change (name, MTU, addresses) needs a restart\n");
}

int request(const std::string& socket_path, const std::string& line) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::perror("mpt: socket");
    return 1;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    std::fprintf(stderr, "mpt: socket path too long: %s\n", socket_path.c_str());
    return 2;
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    std::fprintf(stderr, "mpt: cannot reach mptd at %s: %s\n", socket_path.c_str(),
                 std::strerror(errno));
    ::close(fd);
    return 1;
  }
  const std::string msg = line + "\n";
  if (::write(fd, msg.data(), msg.size()) != static_cast<ssize_t>(msg.size())) {
    std::perror("mpt: write");
    ::close(fd);
    return 1;
  }
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) reply.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  std::fputs(reply.c_str(), stdout);
  return reply.rfind("error:", 0) == 0 || reply.rfind("partly applied:", 0) == 0 ? 1 : 0;
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
  std::string socket_path = kDefaultSocket;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--socket" || a == "-s") && i + 1 < argc) {
      socket_path = argv[++i];
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
  if (args[0] == "status" && args.size() == 1) return request(socket_path, "status");
  if (args[0] == "status" && args.size() == 2 && args[1] == "--json") {
    return request(socket_path, "status --json");
  }
  if (args[0] == "show" && args.size() == 2 && args[1] == "status") {
    return request(socket_path, "show status");
  }
  if (args[0] == "path" && args.size() == 4 && (args[1] == "up" || args[1] == "down")) {
    return request(socket_path, "path " + args[1] + " " + args[2] + " " + args[3]);
  }
  if (args[0] == "reload" && args.size() == 1) return request(socket_path, "reload");
  if (args[0] == "genkey" && args.size() == 1) return genkey();
  if (args[0] == "path" && args.size() == 5 && args[1] == "weight") {
    return request(socket_path, "path weight " + args[2] + " " + args[3] + " " + args[4]);
  }
  if ((args[0] == "int" || args[0] == "interface") && args.size() == 3 &&
      (args[2] == "up" || args[2] == "down")) {
    return request(socket_path, "int " + args[1] + " " + args[2]);
  }
  std::fprintf(stderr, "mpt: unknown command '%s'\n", args[0].c_str());
  usage(stderr);
  return 2;
}
