// PathWorker, server mode: a listener's client slots (engine/path_worker.h) -- attaching
// and detaching them, walking them each loop turn, and the demux table that finds a
// datagram's slot by its source address. The per-packet code is path_worker.cpp's.
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "engine/path_worker.h"

namespace mpt::engine {

void PathWorker::attach(PathWorker* slot) {
  served_.push_back(slot);
  const auto i = static_cast<std::size_t>(slot->path_index_);
  if (slot_of_index_.size() <= i) slot_of_index_.resize(i + 1, nullptr);
  slot_of_index_[i] = slot;
  gre_key_ = slot->gre_key_;  // the template's: the same for every client
  slot->peer_version_ = ~std::uint64_t{0};
  demux_stale_ = true;  // rebuilt on the listener's next turn, with the slot's endpoint
}

void PathWorker::detach(PathWorker* slot) {
  served_.erase(std::remove(served_.begin(), served_.end(), slot), served_.end());
  const auto i = static_cast<std::size_t>(slot->path_index_);
  if (i < slot_of_index_.size()) slot_of_index_[i] = nullptr;
  slot->drain_rx_returns();  // a slot's buffers are the host's
  provided_->publish();
  rebuild_demux();
}

bool PathWorker::slots_have_work() {
  for (PathWorker* s : served_) {
    for (int q = 0; q < s->queue_count(); ++q) {
      if (s->tx_ring(q).read_available() > 0 || s->rx_return_ring(q).read_available() > 0) {
        return true;
      }
    }
  }
  return false;
}

void PathWorker::refresh_slots() {
  bool moved = false;
  for (PathWorker* s : served_) moved = s->refresh_peer() || moved;
  if (listener_ && (moved || demux_stale_)) rebuild_demux();
}

namespace {
// The address part of a source, for the demux table: family, 16 address bytes, port.
bool demux_key(const sockaddr* a, std::uint8_t& family, std::array<std::uint8_t, 16>& ip,
               std::uint16_t& port) {
  ip.fill(0);
  if (a->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(a);
    family = AF_INET;
    std::memcpy(ip.data(), &v4->sin_addr, 4);
    port = v4->sin_port;
    return true;
  }
  if (a->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(a);
    family = AF_INET6;
    std::memcpy(ip.data(), &v6->sin6_addr, 16);
    port = v6->sin6_port;
    return true;
  }
  return false;
}
}  // namespace

// The listener's table: every served slot whose client's address is known, sorted by
// (family, address, port). Built on the listener's thread when an endpoint moved (rare: a
// handshake, a roaming client), never per packet.
void PathWorker::rebuild_demux() {
  demux_stale_ = false;
  demux_.clear();
  for (PathWorker* s : served_) {
    if (s->peer_len_ == 0) continue;
    DemuxEntry e;
    if (!demux_key(reinterpret_cast<const sockaddr*>(&s->peer_), e.family, e.ip, e.port)) continue;
    e.slot = s;
    demux_.push_back(e);
  }
  std::sort(demux_.begin(), demux_.end(),
            [](const DemuxEntry& a, const DemuxEntry& b) { return a.key() < b.key(); });
}

// A datagram's client slot: the one whose client sends from exactly this address and port;
// else the only one at this address (a NAT may map the client's entropy ports to ports of
// its own); else none (a stranger, or a client that moved: its control messages go to the
// control thread, which finds it by key and moves its endpoint).
PathWorker* PathWorker::demux(const sockaddr* from) const {
  DemuxEntry k;
  if (!demux_key(from, k.family, k.ip, k.port)) return nullptr;
  const auto less = [](const DemuxEntry& a, const DemuxEntry& b) { return a.key() < b.key(); };
  auto it = std::lower_bound(demux_.begin(), demux_.end(), k, less);
  if (it != demux_.end() && it->key() == k.key()) return it->slot;
  const auto same_ip = [&](const DemuxEntry& e) { return e.family == k.family && e.ip == k.ip; };
  // Entries of this address sit together around `it`.
  auto first = it;
  while (first != demux_.begin() && same_ip(*(first - 1))) --first;
  auto last = it;
  while (last != demux_.end() && same_ip(*last)) ++last;
  return last - first == 1 ? first->slot : nullptr;
}

// Host: the buffers every served path's consumer is done with go back to the kernel.
void PathWorker::drain_all_rx_returns() {
  for (PathWorker* s : served_) s->drain_rx_returns();
  provided_->publish();
}

}  // namespace mpt::engine
