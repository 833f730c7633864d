// mpt configuration: the original MPT directory layout, parsed into plain structs.
//
// A configuration directory holds `interface.conf` ([general], [tun_N]) and
// `connections/*.conf` (one [connection] with its [path_N] and [net_N] sections per file).
// In server mode (`[general] accept_remote = 1`) it also holds `connections/conf.template`
// (the server side of every client) and `clients/NAME.conf` (one [client] per file: the
// client's tunnel address, key and networks); each client becomes one connection.
// Every key the original MPT accepts is accepted; keys that mpt does not act on yet are
// accepted with a warning that names them. Unknown keys, bad values, missing sections and
// inconsistent counts are errors that name the file, the line and the key.
// New mpt keys are documented in docs/configuration.md.
//
// Threading: loading is done once, on the main thread, before any worker starts; the result
// is immutable afterwards and may be read from any thread.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/ip_address.h"
#include "scheduler/port_range.h"

namespace mpt::config {

// An IPv4 or IPv6 address (IPv4 kept as AF_INET, never v4-mapped), and one with a prefix
// length (10.0.0.2/24, fd00::1/64): the engine's own types (engine/ip_address.h).
using IpAddress = engine::IpAddress;
using IpPrefix = engine::IpNet;

inline constexpr int kMinMtu = 576;
inline constexpr int kMinMtuIpv6 = 1280;  // RFC 8200 §5
inline constexpr int kMaxMtu = 9000;

// A [tun_N] section of interface.conf.
struct TunConfig {
  std::string name = "tun0";
  // 0: automatic (`mtu` absent or `auto`): mptd sets the largest that every path carries in
  // one outer datagram when it starts (cli/tunnel_mtu.h).
  int mtu = 0;
  // TUN queues, each with its own TUN reader and writer thread (1..engine::kMaxQueues).
  // Above 1 every connection must be keyed (load_config_dir checks). Fixed until restart.
  int queues = 1;
  int queues_line = 0;  // for messages; 0 when absent
  std::optional<IpPrefix> ipv4_addr;
  std::optional<IpPrefix> ipv6_addr;
};

// interface.conf
struct InterfaceConfig {
  int tunnel_num = 0;
  // Server mode: connections/conf.template plus one connection per clients/NAME.conf.
  bool accept_remote = false;
  int accept_remote_line = 0;         // for messages; 0 when absent
  std::uint16_t cmdport_local = 65050;  // accepted, not acted on (mpt uses a Unix socket)
  int cmd_timeout_s = 15;
  int interface_num = 0;
  std::vector<TunConfig> tuns;        // [tun_0] .. [tun_{tunnel_num-1}]
};

// An inclusive port range for the layer-4 port mapping keys: the scheduler's own type.
using PortRange = scheduler::PortRange;

// A [path_N] section.
struct PathConfig {
  std::string interface_name = "unnamed_path";
  int ip_ver = 4;                    // outer IP version of this path
  IpAddress private_ipaddr;          // unset = take the interface's address
  IpAddress public_ipaddr;           // unset = same as private (mpt does no discovery)
  IpAddress gw_ipaddr;               // unset = directly connected peer
  IpAddress remote_ipaddr;           // unset = learned from the peer (keyed connections only)
  int line = 0;                      // the [path_N] header's line (for messages)
  int remote_line = 0;               // remote_ipaddr's line, 0 when absent
  int keepalive_time_s = 0;          // 0 = off
  int dead_time_s = 0;               // 0 = 3 * keepalive_time
  int weight_out = 1;                // 0 = standby (0..10000)
  int weight_in = 1;
  bool cmd_default = false;
  int status = 0;                    // 0 = up, 128 = down
  int window_size = 1;               // legacy, unused
  std::vector<PortRange> tcp_dst, tcp_src, udp_dst, udp_src;
};

// A [net_N] section: site-to-site networks routed through the connection.
struct NetConfig {
  int ip_ver = 4;
  IpPrefix src_addr;
  IpPrefix dst_addr;
};

// A connections/*.conf file.
struct ConnectionConfig {
  std::string file;                  // path of the file it came from (for messages)
  std::string name = "connection";
  int permission = 0;
  int ip_ver = 6;                    // inner (tunnel) IP version
  IpAddress ip_local;
  IpAddress ip_remote;
  std::uint16_t local_port = 4754;   // mpt default: RFC 8086 port (original: ephemeral)
  std::uint16_t remote_port = 4754;  // mpt default: RFC 8086 port (original: 65000)
  std::uint16_t remote_cmd_port = 65050;
  std::uint16_t local_cmd_port = 65001;
  int path_count = 0;                // 1..20 in the original; mpt allows up to kMaxPaths
  int network_count = 0;
  int status = 0x80;
  int reorder_window = 0;            // packets; 0 = no sequence numbers
  int max_buffdelay_msec = 100;      // 0 in file -> 100
  // false when the file leaves max_buffdelay_msec unset (or 0): mptd then derives the wait
  // from the paths' measured RTTs (starting from 100 ms until they are known).
  bool max_buffdelay_set = false;
  int auth_type = 0;
  bool auth_type_set = false;  // written in the file (the original's auth_type = 0 opt-out)
  // The pre-shared key, or "file:PATH" naming a file that holds it (relative paths from the
  // connection file's directory; the file must not be readable by group or others). After
  // load_config_dir it is the key itself, at least kMinAuthKeyLength characters.
  std::string auth_key;
  int auth_key_line = 0;  // for messages
  // --- keys added by mpt (docs/configuration.md) ---
  // Number of UDP source ports used for RFC 8086 §3.2.1 entropy, drawn from 49152-65535 and
  // chosen per inner flow by hash. 0 = one fixed source port: local_port.
  int source_port_count = 4;
  std::optional<std::uint32_t> gre_key;  // GRE key sent and required on receive (RFC 2890)
  bool gre_checksum = false;             // send the GRE checksum (RFC 2784)
  // Path choice: "auto" (earliest expected arrival from estimated path rates and delays;
  // default; needs signalling, else it acts as "bytes"), "bytes" (weighted round-robin
  // sharing bytes), "packets" (the original MPT's per-packet weighted round-robin) or "flow"
  // (each flow pinned to one path).
  std::string scheduler = "auto";
  // Redundant mode (off when both are empty): inner packets whose TCP/UDP source or
  // destination port is in redundant_ports, or whose DSCP is in redundant_dscp, are sent on
  // the two best paths; the peer keeps the first copy (voice, video: one path's loss or death
  // is invisible to them).
  std::vector<PortRange> redundant_ports;
  std::vector<int> redundant_dscp;
  // Repair (several paths): the receiver asks for missing sequence numbers again and the
  // sender resends them from its recent history on its best other path (a random loss or a
  // silent path cut costs the inner flows a round trip, not a loss). On by default.
  bool repair = true;
  bool pacing = true;
  int pace_queue_ms = 50;
  // Signalling and path health (docs/protocol.md). Probes run when auth_key is set (HMAC
  // key) or when control_auth = none opts into unauthenticated control messages.
  // "hmac" (keyed: handshake + sealed), "none" (unauthenticated signalling) or "off" (plain
  // RFC 8086: no signalling at all; the original's auth_type = 0 with keepalive_time = 0).
  std::string control_auth = "hmac";
  // What this side seals with under a key: "auto" (AES-256-GCM with AES instructions, else
  // ChaCha20-Poly1305), "aes-256-gcm" or "chacha20-poly1305". Each side picks its own.
  std::string cipher = "auto";
  int rekey_after_s = 120;  // a new handshake round (fresh keys) this often
  int probe_interval_ms = 0;             // 0 = from keepalive_time (s), else 1000
  int dead_misses = 0;                   // 0 = from dead_time / keepalive_time, else 3
  int hold_down_ms = 1000;               // answered without a miss this long to rejoin
  int nat_keepalive_s = 25;              // every path probed at least this often (0 = no bound)
  std::vector<PathConfig> paths;     // [path_0] .. [path_{path_count-1}]
  std::vector<NetConfig> networks;   // [net_0] .. [net_{network_count-1}]
  // A client of server mode (accept_remote): its paths share the listener sockets of the
  // template's local addresses and learn the client's address. Such a connection is the
  // template's with name, file, ip_remote and auth_key from clients/NAME.conf and the client's
  // networks appended (src_addr unset).
  bool server_client = false;
};

struct Config {
  std::string dir;
  InterfaceConfig interface;
  // connections/*.conf sorted by file name, then the server-mode clients (clients/*.conf,
  // sorted by file name; server_client set).
  std::vector<ConnectionConfig> connections;
};

inline constexpr int kMaxPaths = 64;
inline constexpr int kMaxNetworks = 64;
inline constexpr int kMaxWeight = 10000;
inline constexpr std::size_t kMinAuthKeyLength = 16;

// One problem found while loading. `line` is 1-based; 0 when the problem is about a whole
// file or section (e.g. a missing section). `key` may be empty.
struct Diagnostic {
  enum class Severity { kWarning, kError };
  Severity severity = Severity::kError;
  std::string file;
  int line = 0;
  std::string key;  // "section:key", "section", or empty
  std::string message;
  // "FILE:LINE: error: key 'connection:ip_ver': must be 4 or 6 (got '5')"
  [[nodiscard]] std::string to_string() const;
};

struct LoadResult {
  Config config;
  std::vector<Diagnostic> diagnostics;  // warnings and errors, in file order
  [[nodiscard]] bool ok() const;        // no error-severity diagnostics
};

// Loads DIR/interface.conf and DIR/connections/*.conf (only names ending in ".conf"; files
// such as conf.template, x.conf.A or x.conf~ are ignored, as in the original). With
// accept_remote = 1 also DIR/connections/conf.template (required) and DIR/clients/*.conf.
// Never throws for bad content; I/O failures are reported as diagnostics too.
[[nodiscard]] LoadResult load_config_dir(const std::string& dir);

// Parses one interface.conf / connection file from memory. `file` is only used in messages.
// Used by load_config_dir, the unit tests and the config fuzz target.
[[nodiscard]] InterfaceConfig parse_interface_conf(const std::string& text, const std::string& file,
                                                   std::vector<Diagnostic>& diags);
[[nodiscard]] ConnectionConfig parse_connection_conf(const std::string& text,
                                                     const std::string& file,
                                                     std::vector<Diagnostic>& diags);

// Parses "a.b.c.d", "x::y"; "0.0.0.0" and "::" give an unset address. Returns nullopt on junk.
[[nodiscard]] std::optional<IpAddress> parse_ip_address(const std::string& s);
// Parses "addr/len"; a missing "/len" gives /32 or /128. Unlike parse_ip_address, an all-zero
// address keeps its family here: 0.0.0.0/0 and ::/0 are real prefixes ("everything").
[[nodiscard]] std::optional<IpPrefix> parse_ip_prefix(const std::string& s);

}  // namespace mpt::config
