// TunReader, batches moving between paths: a batch its path could not send goes to another
// path of its connection (reroute), and what a path sent goes into its history until the peer
// confirms it, so that a path declared down has it sent again on live paths (reinject), and
// a datagram the peer asks for again (NACK) can be sent again on its best other path (repair).
#include "engine/tun_reader.h"

#include <algorithm>
#include <cstring>

#include "engine/byte_order.h"
#include "engine/clock.h"
#include "engine/path_channel.h"
#include "engine/sealed_packet.h"
#include "scheduler/reorder.h"

namespace mpt::engine {
namespace {

// Reinjection history: a sent batch is kept at most this long (signalling confirms it sooner:
// a probe interval plus a round trip), and never when the pool would drop below a quarter.
constexpr std::uint64_t kHistoryNs = 300'000'000;
constexpr std::size_t kHistoryPoolReserve = TunReader::kSendPoolCount / 4;
// Repair budget, per connection: a quarter of the segments it sent, with a burst of this many;
// every number asked for costs one, found or not -- a peer (or a forger of its NACKs) can
// never make us send much more than we sent, nor keep this thread searching.
constexpr double kRepairBurst = 1024;
// A number further behind the connection's next one than this is refused: the peer's reorder
// window (kMaxReorderWindow) has moved past it, or will have when the copy arrives, and a
// copy that far behind would look like a restart of the sequence there.
constexpr std::uint32_t kRepairHorizon = kMaxReorderWindow - 1024;
// A path whose latest answered probe was sent longer ago than this is suspect: repairs avoid
// it when another path is fresh (with `auto`, a path carrying data is probed every 20 ms).
constexpr std::uint64_t kRepairSuspectNs = 60'000'000;
// A number repaired this recently is not repaired again (the NACK came on two paths).
constexpr std::uint64_t kRepairDedupNs = 100'000'000;

// Where the sequence number sits in a connection's GRE header with data key `key`.
std::size_t seq_offset(const ConnectionSpec& cs, std::optional<std::uint32_t> key) {
  return kGreBaseSize + (cs.gre_checksum ? 4 : 0) + (key ? 4 : 0);
}

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
    PathChannel* w = paths_[static_cast<std::size_t>(to)];
    if (to == from || !w || !conn.states[i].up || w->down()) continue;
    b->path_index = static_cast<std::uint16_t>(to);
    if (paths_[static_cast<std::size_t>(to)]->tx_ring(queue_).push(b)) {
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
  const ConnectionSpec& cs =
      tunnel_.connections[static_cast<std::size_t>(tunnel_.paths[p].connection)];
  std::uint32_t first = 0, last = 0;
  const std::size_t at = seq_offset(cs, data_key(cs));
  if (cs.sequence_numbers && b->segments > 0 && b->gso_size > at + 4) {
    first = load_be32(b->storage + at);
    last = load_be32(b->storage + std::size_t{b->gso_size} * (b->segments - 1u) + at);
  }
  h.push({b, now_ns, first, last});
}

// Frees what the peer has confirmed, what is older than kHistoryNs, and the oldest batches
// while the pool is short.
void TunReader::trim_histories(std::uint64_t now_ns) {
  for (std::size_t p = 0; p < history_.size(); ++p) {
    History& h = history_[p];
    if (h.len == 0) continue;
    const std::uint64_t confirmed = paths_[p] ? paths_[p]->confirmed_ns() : now_ns;
    const std::uint64_t keep = repair_keep_ns_.load(std::memory_order_relaxed);
    while (h.len > 0 && ((h.front().sent_ns < confirmed && h.front().sent_ns + keep < now_ns) ||
                         h.front().sent_ns + kHistoryNs < now_ns)) {
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
// With repair on, only the tail is: the batches with numbers beyond the newest one any other
// path of the connection sent. The peer asks for exactly what it misses below a number that
// arrived (everything in flight on the path when it broke, and nothing it already has),
// whereas "unconfirmed" is everything sent in the last probe interval + round trip + queue --
// mostly delivered, and sent again all at once onto a live path that is full already
// (measured: 900 copies into a 100 Mbit/s path with a 50 ms queue, tail drops the inner TCP
// then saw). But nothing arrives after the tail, so the peer cannot see it is missing: the
// last ACKs of a flow whose ACKs all went on the broken path stalled that flow until its
// sender's retransmission timeout (measured: 255 ms without an ACK).
void TunReader::reinject(int path) {
  const auto p = static_cast<std::size_t>(path);
  if (p >= history_.size()) return;
  History& h = history_[p];
  const int conn = tunnel_.paths[p].connection;
  if (!connections_[static_cast<std::size_t>(conn)].repaired.empty()) {  // repair on
    bool any = false;
    std::uint32_t newest = 0;  // the newest number another path sent (and still holds)
    for (const int q : tunnel_.connections[static_cast<std::size_t>(conn)].paths) {
      if (static_cast<std::size_t>(q) == p || static_cast<std::size_t>(q) >= history_.size()) continue;
      const History& o = history_[static_cast<std::size_t>(q)];
      for (std::size_t k = 0; k < o.len; ++k) {
        const std::uint32_t s = o.entries[(o.head + k) % History::kCapacity].last_seq;
        if (!any || scheduler::serial_diff(s, newest) > 0) newest = s;
        any = true;
      }
    }
    std::size_t tail = 0;
    while (tail < h.len &&
           (!any || scheduler::serial_diff(
                        h.entries[(h.head + h.len - 1 - tail) % History::kCapacity].last_seq,
                        newest) > 0)) {
      ++tail;
    }
    for (std::size_t k = h.len - tail; k < h.len; ++k) {  // oldest first
      PacketBuf* b = h.entries[(h.head + k) % History::kCapacity].buf;
      const std::uint16_t segments = b->segments;
      bump(reroute(b, conn, path) ? stats_.tx_reinjected : stats_.tx_reinject_dropped, segments);
    }
    h.len -= tail;
    return;
  }
  while (h.len > 0) {
    PacketBuf* b = h.pop().buf;
    const std::uint16_t segments = b->segments;
    bump(reroute(b, conn, path) ? stats_.tx_reinjected : stats_.tx_reinject_dropped, segments);
  }
}

// Repair requests (NACK ranges) the path workers received from the peer: each number still in
// a history of its connection is sent again, within the budget.
void TunReader::serve_repairs(std::uint64_t now_ns) {
  for (std::size_t p = 0; p < paths_.size(); ++p) {
    PathChannel* w = paths_[p];
    if (!w) continue;
    RepairRequest rq;
    if (nack_accepted_.size() <= p) nack_accepted_.resize(p + 1, true);
    while (w->repair_ring(queue_).pop(rq)) {
      const int conn = tunnel_.paths[p].connection;
      // A sealed request opened (it is the peer's), but it may be a copy sent again by
      // anyone who saw it: each message counts once, whichever path brings it.
      if (rq.key_slot != RepairRequest::kPlain) {
        if (rq.first_of_message) nack_accepted_[p] = accept_nack(static_cast<std::size_t>(conn), rq);
        if (!nack_accepted_[p]) {
          bump(stats_.tx_repair_replayed);
          continue;
        }
      }
      for (std::uint32_t i = 0; i < rq.count; ++i) repair(conn, rq.first + i, rq.attempt, now_ns);
    }
  }
}

// The replay window of sealed repair requests, per connection, key slot and the peer's
// writer (each seals them in its own nonce space, kRepairSpace - its queue, with its own
// counter).
bool TunReader::accept_nack(std::size_t c, const RepairRequest& rq) {
  const std::size_t writer = static_cast<std::size_t>(kRepairSpace - rq.nonce_space);
  if (rq.key_slot >= SessionKeys::kRxSlots ||
      writer >= static_cast<std::size_t>(kMaxQueues)) {
    return false;
  }
  if (nack_replay_.size() <= c) nack_replay_.resize(c + 1);
  if (!nack_replay_[c]) nack_replay_[c] = std::make_unique<NackReplay>();
  return (*nack_replay_[c])[rq.key_slot][writer].check_and_update(rq.key_gen, rq.counter);
}

// Sends number `seq` of `connection` again: the datagram is found in the history of the path
// that sent it (GRE headers do not depend on the path) and copied, as it is, into the open
// batch of the connection's best other path (earliest arrival for `auto`). A second attempt
// (the first copy did not come: it went into a path that broke, or was dropped on the way)
// goes on the path whose latest probe answer is the most recent.
void TunReader::repair(int connection, std::uint32_t seq, std::uint8_t attempt,
                       std::uint64_t now_ns) {
  Connection& conn = connections_[static_cast<std::size_t>(connection)];
  const ConnectionSpec& cs = tunnel_.connections[static_cast<std::size_t>(connection)];
  if (!cs.sequence_numbers || conn.repaired.empty()) return;
  RepairSeen& seen = conn.repaired[seq % conn.repaired.size()];
  if (seen.ns != 0 && seen.seq == seq && attempt <= seen.attempt &&
      now_ns < seen.ns + kRepairDedupNs) {
    return;  // the same request on the other path
  }
  conn.repair_tokens = std::min(
      kRepairBurst, conn.repair_tokens + static_cast<double>(conn.next_seq - conn.repair_refill_seq) / 4);
  conn.repair_refill_seq = conn.next_seq;
  if (conn.repair_tokens < 1) {
    bump(stats_.tx_repair_limited);
    return;
  }
  conn.repair_tokens -= 1;
  const std::int32_t behind = scheduler::serial_diff(conn.next_seq, seq);
  if (behind <= 0 || static_cast<std::uint32_t>(behind) > kRepairHorizon) {
    bump(stats_.tx_repair_missing);  // never sent, or too old to help
    return;
  }
  const std::size_t at = seq_offset(cs, data_key(cs));
  const PacketBuf* src = nullptr;
  std::uint32_t off = 0, size = 0;
  int from = -1;
  for (std::size_t i = 0; i < cs.paths.size() && !src; ++i) {
    const History& h = history_[static_cast<std::size_t>(cs.paths[i])];
    for (std::size_t k = h.len; k-- > 0 && !src;) {  // newest first: NACKs are for recent sends
      const SentBatch& e = h.entries[(h.head + k) % History::kCapacity];
      if (scheduler::serial_diff(seq, e.first_seq) < 0 ||
          scheduler::serial_diff(seq, e.last_seq) > 0) {
        continue;
      }
      const PacketBuf* b = e.buf;
      for (std::uint32_t o = 0; o < b->length; o += b->gso_size) {
        const std::uint32_t n = std::min<std::uint32_t>(b->gso_size, b->length - o);
        if (n > at + 4 && load_be32(b->storage + o + at) == seq) {
          src = b;
          off = o;
          size = n;
          from = static_cast<int>(i);
          break;
        }
      }
    }
  }
  if (!src) {
    bump(stats_.tx_repair_missing);
    return;
  }
  scheduler::PacketInfo info;
  info.bytes = size;
  info.now_ns = now_ns;
  int to = conn.chooser.choose_other(info, from, conn.states);
  if (to < 0 && conn.states[static_cast<std::size_t>(from)].up) to = from;
  // Not into a path that has answered no probe lately (it may be the one that broke and is
  // not declared down yet): a fresher usable path of the connection, if there is one.
  const auto fresh = [&](int local) {
    const PathChannel* w = paths_[static_cast<std::size_t>(cs.paths[static_cast<std::size_t>(local)])];
    return w && now_ns < w->confirmed_ns() + kRepairSuspectNs;
  };
  if (attempt > 0) {
    std::uint64_t freshest = 0;
    for (std::size_t i = 0; i < cs.paths.size(); ++i) {
      const PathChannel* w = paths_[static_cast<std::size_t>(cs.paths[i])];
      if (conn.states[i].up && w && w->confirmed_ns() > freshest) {
        freshest = w->confirmed_ns();
        to = static_cast<int>(i);
      }
    }
  } else if (to >= 0 && !fresh(to)) {
    for (std::size_t i = 0; i < cs.paths.size(); ++i) {
      if (conn.states[i].up && fresh(static_cast<int>(i))) {
        to = static_cast<int>(i);
        break;
      }
    }
  }
  if (to < 0) {
    bump(stats_.tx_repair_missing);
    return;
  }
  std::uint8_t* out = reserve_datagram(cs.paths[static_cast<std::size_t>(to)], size,
                                       src->source_port_index);
  if (!out) {
    bump(stats_.tx_drop_no_buffer);
    return;
  }
  std::memcpy(out, src->storage + off, size);
  seen = {seq, attempt, now_ns};
  bump(stats_.tx_repaired);
}

}  // namespace mpt::engine
