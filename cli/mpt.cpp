// mpt: control CLI. Talks to a running mptd over its Unix control socket (root only): the
// tunnel's own, /run/mpt/<tun name>.sock (cli/control_socket_paths.h), found by -i NAME, or
// the only one running; --socket PATH names one directly.
//   mpt [-i NAME | -s PATH] VERB [VERB OPTIONS AND ARGUMENTS]
//   mpt --help | mpt help VERB | mpt VERB --help
// The command line is read with Boost.Program_options: the global options first (they may
// also follow the verb, as they always could), then the verb's own options and positional
// arguments (one options_description per verb, in kVerbs). Exit status: 0 ok, 1 mptd
// answered with an error or could not be reached, 2 a usage error (the message names it).
// packaging/mpt.bash-completion completes the verbs of kVerbs.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/program_options.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/control_socket_paths.h"

namespace {

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

// ---------------------------------------------------------------------------------------------
// The command line

namespace po = boost::program_options;

constexpr int kUsageError = 2;

// What the global options chose; the socket is looked for only once a verb needs one.
struct Target {
  std::string socket;  // -s, --socket
  std::string iface;   // -i, --interface
  int ask(const std::string& line) const {
    const auto chosen = choose_socket(socket, iface);
    return chosen ? request(*chosen, line) : 1;
  }
};

using Args = std::vector<std::string>;

struct Verb {
  const char* name;
  const char* alias;     // another spelling, or nullptr
  const char* synopsis;  // after "mpt [-i NAME | -s PATH] "; lines separated by '\n'
  const char* summary;   // one line, for mpt --help
  const char* details;   // for mpt VERB --help
  bool json = false;     // has --json
  int (*run)(const Verb&, const Target&, const Args&, bool json);
};

int usage_error(const char* verb, const std::string& message) {
  if (verb != nullptr) {
    std::fprintf(stderr, "mpt %s: %s (mpt %s --help)\n", verb, message.c_str(), verb);
  } else {
    std::fprintf(stderr, "mpt: %s (mpt --help)\n", message.c_str());
  }
  return kUsageError;
}

// A decimal 0..max, digits only (what mptd accepts; checked here so that a typo is a usage
// error, not a request).
bool decimal(const std::string& s, unsigned max) {
  if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return false;
  if (!std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  unsigned long long v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v <= max;
}

int run_status(const Verb& v, const Target& t, const Args& a, bool json) {
  if (!a.empty()) return usage_error(v.name, "unexpected argument '" + a[0] + "'");
  return t.ask(json ? "status --json" : "status");
}

int run_show(const Verb& v, const Target& t, const Args& a, bool) {
  if (a.empty()) return show_tunnels();
  if (a.size() == 1 && a[0] == "status") return t.ask("show status");
  return usage_error(v.name, "unexpected argument '" + a[a.size() == 1 ? 0 : 1] +
                                 "' (show, or show status)");
}

int run_path(const Verb& v, const Target& t, const Args& a, bool) {
  if (a.empty()) return usage_error(v.name, "missing up, down or weight");
  const bool weight = a[0] == "weight";
  if (!weight && a[0] != "up" && a[0] != "down") {
    return usage_error(v.name, "unknown action '" + a[0] + "' (up, down or weight)");
  }
  const std::size_t want = weight ? 4 : 3;
  if (a.size() < want) {
    return usage_error(v.name,
                       weight ? "missing CONNECTION PATH WEIGHT" : "missing CONNECTION PATH");
  }
  if (a.size() > want) return usage_error(v.name, "unexpected argument '" + a[want] + "'");
  if (!decimal(a[2], 65535)) {
    return usage_error(v.name, "bad path number '" + a[2] + "' (the N of [path_N], 0..65535)");
  }
  if (weight && !decimal(a[3], 10000)) {
    return usage_error(v.name, "bad weight '" + a[3] + "' (0..10000, 0 = standby)");
  }
  std::string line = "path " + a[0] + " " + a[1] + " " + a[2];
  if (weight) line += " " + a[3];
  return t.ask(line);
}

int run_int(const Verb& v, const Target& t, const Args& a, bool) {
  if (a.size() < 2) {
    return usage_error(v.name, a.empty() ? "missing IF up|down" : "missing up|down");
  }
  if (a.size() > 2) return usage_error(v.name, "unexpected argument '" + a[2] + "'");
  if (a[1] != "up" && a[1] != "down") {
    return usage_error(v.name, "'" + a[1] + "' is neither up nor down");
  }
  return t.ask("int " + a[0] + " " + a[1]);
}

int run_plain(const Verb& v, const Target& t, const Args& a, bool) {
  if (!a.empty()) return usage_error(v.name, "unexpected argument '" + a[0] + "'");
  if (std::string_view(v.name) == "genkey") return genkey();
  return t.ask(v.name);  // reload, save
}

int run_help(const Verb& v, const Target& t, const Args& a, bool);

const Verb kVerbs[] = {
    {"show", nullptr, "show\nshow status", "every running tunnel, one line each",
     "show: one line per running tunnel (every mptd that answers in the run directory): its TUN "
     "name, its connections, paths and how many are up, and its control socket. "
     "show status: the original MPT's spelling of 'status'.",
     false, run_show},
    {"status", nullptr, "status [--json]", "a tunnel's paths, health and counters",
     "The status of one tunnel: counters, buffer pools, the reorder stage, and each path's "
     "health (state, round-trip time, loss, weight). With --json, the same as one JSON object "
     "(docs/status.md is its schema).",
     true, run_status},
    {"path", nullptr, "path up|down CONNECTION PATH\npath weight CONNECTION PATH WEIGHT",
     "a path up or down, or its weight",
     "up|down: take path number PATH (the N of [path_N]) of CONNECTION (its [connection] name) "
     "administratively down, or back up. weight: set the path's weight_out, 0..10000 (0 = "
     "standby: used only when no weighted path is up). The peer is told and applies the same "
     "change to its side. 'mpt save' writes them into the connection's file.",
     false, run_path},
    {"int", "interface", "int IF up|down", "every path on interface IF up or down",
     "Every path on network interface IF (its interface_name), of every connection, "
     "administratively up or down; the peer is told. 'interface' is the same verb.",
     false, run_int},
    {"reload", nullptr, "reload", "re-read the configuration, apply it live",
     "Re-read the configuration directory and apply the difference while the tunnel runs: "
     "paths and connections added, removed or changed (addresses, ports, keys, networks and "
     "routes), weights and states. What did not change keeps running untouched (the data plane "
     "pauses for about a millisecond). Only a TUN change (name, MTU, addresses in "
     "interface.conf) needs a restart of mptd. A file with an error applies nothing (the answer "
     "names file, line and key); a path whose socket cannot be opened is left out and the "
     "answer starts with 'partly applied:' (exit status 1). Reload both ends.",
     false, run_plain},
    {"save", nullptr, "save", "running weights and states into the files",
     "Write every path's running weight (weight_out) and administrative state (status: 0 up, "
     "128 down) into its [path_N] section of its connection file, as the original MPT's "
     "'mpt save' did. Only these two keys change: comments, blank lines and every other key stay "
     "as they are; a key the section lacks is added after its last key. A weight the peer set "
     "counts; a path the peer took down is not saved as down (the peer brings it back). "
     "A file is rewritten "
     "(atomically, keeping its mode) only when it changes; the answer lists them. A file edited "
     "since mptd read it (other paths) is left alone with an error: mpt reload first. "
     "Server-mode clients are skipped: their paths are conf.template's. A 'mpt reload' after a "
     "save changes nothing.",
     false, run_plain},
    {"genkey", nullptr, "genkey", "print a fresh random pre-shared key",
     "Print a fresh random pre-shared key (32 bytes from OpenSSL's generator, base64) for "
     "auth_key, or for a key file: (umask 077; mpt genkey > k.key). Needs no mptd.",
     false, run_plain},
    {"help", nullptr, "help [VERB]", "this summary, or a verb's usage",
     "Without VERB, the summary of every verb; with VERB, its usage (as mpt VERB --help).",
     false, run_help},
};

const Verb* find_verb(std::string_view name) {
  for (const Verb& v : kVerbs) {
    if (name == v.name || (v.alias != nullptr && name == v.alias)) return &v;
  }
  return nullptr;
}

po::options_description global_options() {
  po::options_description o("Global options");
  o.add_options()
      ("interface,i", po::value<std::string>()->value_name("NAME"),
       ("the tunnel whose TUN device is NAME (its mptd's socket is " + mpt::cli::run_dir() +
        "/NAME.sock); without -i or -s, the only running tunnel")
           .c_str())
      ("socket,s", po::value<std::string>()->value_name("PATH"),
       "the control socket of an mptd started with --socket PATH")
      ("help,h", "this summary; with a verb, the verb's usage");
  return o;
}

po::options_description verb_options(const Verb& v) {
  po::options_description o(std::string("Options of ") + v.name);
  if (v.json) o.add_options()("json", "the status as one JSON object");
  o.add_options()("help,h", "this usage");
  return o;
}

// `text` filled into lines of at most 78 columns.
std::string wrapped(std::string_view text) {
  std::string out, line;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    const std::size_t j = std::min(text.find(' ', i), text.size());
    const std::string_view word = text.substr(i, j - i);
    if (!line.empty() && line.size() + 1 + word.size() > 78) {
      out += line + "\n";
      line.clear();
    }
    if (!word.empty()) line += (line.empty() ? "" : " ") + std::string(word);
    i = j;
  }
  return out + line + "\n";
}

void synopsis(FILE* f, const Verb& v, const char* first) {
  std::string_view s = v.synopsis;
  const char* lead = first;
  while (!s.empty()) {
    const std::size_t nl = s.find('\n');
    const std::string_view line = s.substr(0, nl);
    std::fprintf(f, "%s mpt [-i NAME | -s PATH] %.*s\n", lead, static_cast<int>(line.size()),
                 line.data());
    lead = "      ";
    s = nl == std::string_view::npos ? std::string_view{} : s.substr(nl + 1);
  }
}

void verb_usage(FILE* f, const Verb& v) {
  synopsis(f, v, "Usage:");
  std::fprintf(f, "\n%s", wrapped(v.details).c_str());
  po::options_description both;  // one description: the two groups' columns align
  both.add(verb_options(v)).add(global_options());
  std::ostringstream opts;
  opts << both;
  const std::string text = opts.str();
  std::fprintf(f, "\n%s", text.c_str() + std::min(text.find_first_not_of('\n'), text.size()));
}

void usage(FILE* f) {
  std::fprintf(f, "Usage: mpt [-i NAME | -s PATH] VERB [ARGUMENTS]\n"
                  "       mpt VERB --help | mpt help VERB   a verb's usage\n\nVerbs:\n");
  for (const Verb& v : kVerbs) {
    std::string_view s = v.synopsis;
    bool first = true;
    while (!s.empty()) {
      const std::size_t nl = s.find('\n');
      const std::string_view line = s.substr(0, nl);
      if (first && line.size() <= 32) {
        std::fprintf(f, "  %-32.*s %s\n", static_cast<int>(line.size()), line.data(), v.summary);
      } else if (first) {
        std::fprintf(f, "  %.*s\n  %-32s %s\n", static_cast<int>(line.size()), line.data(), "",
                     v.summary);
      } else {
        std::fprintf(f, "  %.*s\n", static_cast<int>(line.size()), line.data());
      }
      first = false;
      s = nl == std::string_view::npos ? std::string_view{} : s.substr(nl + 1);
    }
  }
  std::fprintf(f, "\nExit status: 0 ok, 1 mptd answered with an error or cannot be reached, 2 a\n"
                  "usage error.\n\n");
  std::ostringstream opts;
  opts << global_options();
  std::fputs(opts.str().c_str(), f);
}

int run_help(const Verb& v, const Target&, const Args& a, bool) {
  if (a.empty()) {
    usage(stdout);
    return 0;
  }
  if (a.size() > 1) return usage_error(v.name, "unexpected argument '" + a[1] + "'");
  const Verb* topic = find_verb(a[0]);
  if (topic == nullptr) return usage_error(v.name, "unknown verb '" + a[0] + "'");
  verb_usage(stdout, *topic);
  return 0;
}

constexpr int kStyle = po::command_line_style::unix_style & ~po::command_line_style::allow_guessing;

int run(int argc, char** argv) {
  // Pass 1: the global options, wherever they are; the verb and everything else in order.
  po::options_description global = global_options();
  po::options_description rest_opt;
  rest_opt.add_options()("verb", po::value<std::string>())("rest", po::value<Args>());
  po::options_description all;
  all.add(global).add(rest_opt);
  po::positional_options_description pos;
  pos.add("verb", 1).add("rest", -1);
  const po::parsed_options parsed = po::command_line_parser(argc, argv)
                                        .options(all)
                                        .positional(pos)
                                        .style(kStyle)
                                        .allow_unregistered()
                                        .run();
  po::variables_map vm;
  po::store(parsed, vm);
  po::notify(vm);
  Target t;
  if (vm.count("socket")) t.socket = vm["socket"].as<std::string>();
  if (vm.count("interface")) t.iface = vm["interface"].as<std::string>();
  const bool help = vm.count("help") != 0;
  Args words = po::collect_unrecognized(parsed.options, po::include_positional);
  if (words.empty()) {
    usage(help ? stdout : stderr);
    return help ? 0 : kUsageError;
  }
  // An option no one knows before the verb (after it, the verb's parser judges it).
  if (!vm.count("verb") || words.front() != vm["verb"].as<std::string>()) {
    return usage_error(nullptr, "unrecognised option '" + words.front() + "'");
  }
  const std::string name = words.front();
  words.erase(words.begin());
  const Verb* v = find_verb(name);
  if (v == nullptr) return usage_error(nullptr, "unknown verb '" + name + "'");
  if (help) {
    verb_usage(stdout, *v);
    return 0;
  }
  // Pass 2: the verb's own options and its positional arguments.
  po::options_description own = verb_options(*v);
  po::options_description args_opt;
  args_opt.add_options()("args", po::value<Args>());
  po::options_description verb_all;
  verb_all.add(own).add(args_opt);
  po::positional_options_description verb_pos;
  verb_pos.add("args", -1);
  po::variables_map vvm;
  try {
    po::store(po::command_line_parser(words)
                  .options(verb_all)
                  .positional(verb_pos)
                  .style(kStyle)
                  .run(),
              vvm);
    po::notify(vvm);
  } catch (const po::error& e) {
    return usage_error(v->name, e.what());
  }
  const Args args = vvm.count("args") ? vvm["args"].as<Args>() : Args{};
  return v->run(*v, t, args, vvm.count("json") != 0);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const po::error& e) {
    return usage_error(nullptr, e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mpt: %s\n", e.what());
    return 1;
  }
}
