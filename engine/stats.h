// Per-thread counters. Each counter has exactly one writer thread (the thread that owns the
// stage it counts); the control thread reads them for `mpt status` (pull, never push).
//
// Memory ordering: relaxed. A reader sees each counter's value at some recent point; counters
// are independent facts, not a consistent snapshot. bump() is a load + store, not an atomic
// read-modify-write: only the owning thread writes, so no lock prefix is needed on the hot path.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "engine/gre_udp.h"

namespace mpt::engine {

using Counter = std::atomic<std::uint64_t>;

inline void bump(Counter& c, std::uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
[[nodiscard]] inline std::uint64_t read(const Counter& c) {
  return c.load(std::memory_order_relaxed);
}

// Written by the TUN reader thread (transmit side).
struct TxStats {
  Counter tun_read_packets{0};
  Counter tun_read_bytes{0};
  Counter tun_read_errors{0};
  Counter tx_segments{0};           // inner packets sent (a super-packet gives several)
  Counter tx_drop_not_ip{0};        // TUN gave us something that is not IPv4/IPv6
  Counter tx_drop_bad_offload{0};   // virtio header that does not describe the packet
  Counter tx_drop_no_buffer{0};     // no free send batch (paths are not keeping up)
  Counter tx_rerouted{0};           // segments moved from a dead path's queue to a live one
  Counter tx_reinjected{0};         // segments a path had sent unconfirmed when it was declared
                                    // down, sent again on a live path (the peer drops copies)
  Counter tx_reinject_dropped{0};   // ... that found no live path
  Counter tx_redundant{0};          // second copies sent (redundant mode)
  Counter tx_repaired{0};           // segments sent again because the peer asked (NACK)
  Counter tx_repair_missing{0};     // ... asked for but no longer in the history (or no path)
  Counter tx_repair_limited{0};     // ... refused by the repair budget
  Counter tx_repair_replayed{0};    // ranges of sealed repair requests seen before: ignored
  Counter tx_drop_too_big{0};       // larger than the configured MTU
  Counter tx_drop_no_connection{0}; // inner destination matches no connection
  Counter tx_drop_no_path{0};       // no path of the connection is up
  Counter tx_drop_ring_full{0};     // the chosen path's ring was full (overflow policy: drop newest)
  Counter tx_batches{0};
  Counter tx_paced{0};              // TUN reads held back by pacing (no bottleneck had room)
  Counter tx_drop_pace_queue{0};    // ... dropped: waited longer than pace_queue_ms
  Counter tx_drop_no_key{0};        // keyed connection, no session keys yet (handshake)
};

// Written by one path worker thread.
struct PathStats {
  Counter tx_packets{0};
  Counter tx_bytes{0};              // UDP payload bytes (GRE header + inner packet)
  Counter tx_send_errors{0};
  Counter tx_fragmented{0};         // datagrams of a batch the kernel refused as too large for
                                    // the path MTU (EMSGSIZE), sent one by one to be fragmented
  Counter tx_submit_batches{0};
  Counter rx_packets{0};            // inner packets (a GRO datagram holds several)
  Counter rx_bytes{0};
  Counter rx_gro_datagrams{0};      // receive completions (each may be a GRO batch)
  Counter rx_drop_unknown_peer{0};  // source address is not this path's configured peer
  Counter rx_drop_truncated{0};     // datagram larger than a receive buffer
  Counter rx_drop_key_mismatch{0};  // GRE key absent or different from the configured one
  Counter rx_drop_ring_full{0};     // the TUN writer's ring was full
  Counter rx_control{0};            // mpt control messages handed to the control thread
  Counter rx_control_dropped{0};    // ... dropped: control ring full, malformed, or no listener
  Counter rx_control_limited{0};    // ... not the peer's session, over kNewSessionPerSecond
  Counter rx_nack_ranges{0};        // repair requests (NACK ranges) handed to the TUN reader
  Counter rx_nack_dropped{0};       // ... dropped: malformed, or the repair ring was full
  Counter tx_nacks{0};              // NACK messages the TUN writer sent on this path
  Counter tx_unsent{0};             // batches handed back because the path was down
  Counter rx_recv_errors{0};
  Counter rx_nobufs{0};             // the kernel ran out of provided receive buffers
  // Keyed connections (sealed data, engine/sealed_packet.h):
  Counter rx_drop_unsealed{0};      // plain data or repair requests where only sealed ones count
  Counter rx_drop_auth{0};          // sealed, but no key of ours opens it (forged, truncated,
                                    // unknown key): never delivered, never proof of life
  // Written by the TUN writer thread: sealed packets of this path that passed the replay
  // window -- the keyed connections' proof that the path delivers (liveness).
  Counter rx_accepted{0};
  Counter rx_drop_replay{0};        // (TUN writer) a counter seen before, or too old
  std::array<Counter, static_cast<std::size_t>(GreError::kCount)> rx_drop_gre{};  // by reason
};

// Written by the TUN writer thread (receive side).
struct RxStats {
  Counter tun_writes{0};            // TUN writes (a super-packet counts once)
  Counter tun_write_drop_no_buffer{0};
  Counter tun_write_drop_not_ip{0};
  Counter tun_write_drop_too_big{0};  // inner packets longer than a hold buffer (MTU + 64)
  Counter tun_write_drop_inner_source{0};  // inner source not allowed for the connection
  Counter tun_write_packets{0};     // inner packets written
  Counter tun_write_bytes{0};
  Counter tun_write_errors{0};
  Counter tun_write_batches{0};
  Counter nack_sent{0};             // NACK messages sent (repair requests)
  Counter nack_drop_no_buffer{0};   // NACK ranges dropped: every NACK buffer was in flight
  Counter nack_drop_no_path{0};     // NACK messages not sent: no usable path
  Counter nack_drop_no_key{0};      // NACK messages not sent: keyed, no session keys yet
};

}  // namespace mpt::engine
