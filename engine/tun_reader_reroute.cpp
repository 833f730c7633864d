// TunReader, batches moving between paths: a batch its path could not send goes to another
// path of its connection (reroute), and what a path sent goes into its history until the peer
// confirms it, so that a path declared down has it sent again on live paths (reinject).
#include "engine/tun_reader.h"

#include "engine/clock.h"
#include "engine/path_worker.h"

namespace mpt::engine {
namespace {

// Reinjection history: a sent batch is kept at most this long (signalling confirms it sooner:
// a probe interval plus a round trip), and never when the pool would drop below a quarter.
constexpr std::uint64_t kHistoryNs = 300'000'000;
constexpr std::size_t kHistoryPoolReserve = TunReader::kSendPoolCount / 4;

}  // namespace

void TunReader::reroute(PacketBuf* b) {
  // A batch its path could not send: the GRE headers do not depend on the path, so it goes
  // as it is to the first usable path of the same connection (the receiver's reorder stage
  // puts it back in order). No usable path: it is dropped and counted.
  const int from = b->path_index;
  reroute(b, tunnel_.paths[static_cast<std::size_t>(from)].connection, from);
}

bool TunReader::reroute(PacketBuf* b, int connection, int from) {
  b->unsent = false;
  Connection& conn = connections_[static_cast<std::size_t>(connection)];
  const auto& ids = tunnel_.connections[static_cast<std::size_t>(connection)].paths;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const int to = ids[i];
    PathWorker* w = paths_[static_cast<std::size_t>(to)];
    if (to == from || !w || !conn.states[i].up || w->down()) continue;
    b->path_index = static_cast<std::uint16_t>(to);
    if (paths_[static_cast<std::size_t>(to)]->tx_ring().push(b)) {
      bump(stats_.tx_rerouted, b->segments);
      // The adaptive scheduler's model of that path carries these bytes too.
      conn.chooser.charge(static_cast<int>(i), b->length, b->segments, monotonic_ns());
      ring_doorbell(ring_, paths_[static_cast<std::size_t>(to)]->doorbell());
      return true;
    }
  }
  bump(stats_.tx_drop_no_path, b->segments);
  send_pool_.put(b);
  return false;
}

// A sent batch: into its path's history when the path's connection can reinject, else home.
void TunReader::keep_sent(PacketBuf* b, std::uint64_t now_ns) {
  const auto p = static_cast<std::size_t>(b->path_index);
  if (p >= history_.size() || !keeps_history_[p]) {
    send_pool_.put(b);
    return;
  }
  History& h = history_[p];
  if (h.full()) send_pool_.put(h.pop().buf);
  h.push({b, now_ns});
}

// Frees what the peer has confirmed, what is older than kHistoryNs, and the oldest batches
// while the pool is short.
void TunReader::trim_histories(std::uint64_t now_ns) {
  for (std::size_t p = 0; p < history_.size(); ++p) {
    History& h = history_[p];
    if (h.len == 0) continue;
    const std::uint64_t confirmed = paths_[p] ? paths_[p]->confirmed_ns() : now_ns;
    while (h.len > 0 && (h.front().sent_ns < confirmed || h.front().sent_ns + kHistoryNs < now_ns)) {
      send_pool_.put(h.pop().buf);
    }
  }
  for (std::size_t p = 0; send_pool_.free_count() < kHistoryPoolReserve && p < history_.size(); ++p) {
    History& h = history_[p];
    while (h.len > 0 && send_pool_.free_count() < kHistoryPoolReserve) send_pool_.put(h.pop().buf);
  }
}

// Path `path` was declared down: everything it sent that the peer has not confirmed is sent
// again, oldest first, on live paths of its connection (GRE headers do not depend on the path;
// the receiver keeps the first copy of each number and discards the other).
void TunReader::reinject(int path) {
  const auto p = static_cast<std::size_t>(path);
  if (p >= history_.size()) return;
  History& h = history_[p];
  const int conn = tunnel_.paths[p].connection;
  while (h.len > 0) {
    PacketBuf* b = h.pop().buf;
    const std::uint16_t segments = b->segments;
    bump(reroute(b, conn, path) ? stats_.tx_reinjected : stats_.tx_reinject_dropped, segments);
  }
}

}  // namespace mpt::engine
