// PathWorker's hand-offs to and from the TUN stages (engine/path_worker.h): received
// packets to the writer of each queue, sent batches home to the reader that owns them,
// receive buffers back from the writers, and send batches popped from every queue's tx ring.
// One ring set per TUN queue (engine/path_channel.h); the per-packet code is path_worker.cpp's.
#include <netinet/udp.h>

#include <cstring>

#include "engine/path_worker.h"

namespace mpt::engine {

// A received inner packet for the TUN writer of queue q (pushed with this turn's others).
void PathWorker::push_rx(int q, const PacketRef& r) {
  const auto k = static_cast<std::size_t>(q);
  rx_batch_[k][rx_batch_len_[k]++] = r;
  r.buf->refs.fetch_add(1, std::memory_order_relaxed);
  if (rx_batch_len_[k] == kBatchMax) flush_rx_batch();
}

void PathWorker::flush_rx_batch() {
  for (int q = 0; q < queue_count(); ++q) {
    const auto k = static_cast<std::size_t>(q);
    if (repair_wake_[k]) {
      repair_wake_[k] = false;
      ring_doorbell(ring(), *tun_reader_bells_[k]);
    }
    const std::size_t len = rx_batch_len_[k];
    if (len == 0) continue;
    const std::size_t pushed = rx_ring(q).push(rx_batch_[k].data(), len);
    for (std::size_t i = pushed; i < len; ++i) {
      bump(stats_.rx_drop_ring_full);
      release_ref(rx_batch_[k][i].buf);
    }
    if (pushed) ring_doorbell(ring(), *tun_writer_bells_[k]);
    rx_batch_len_[k] = 0;
  }
}

// A batch goes home to the TUN reader whose pool it belongs to (with this turn's others).
void PathWorker::return_tx(PacketBuf* b) {
  const auto k = static_cast<std::size_t>(b->queue);
  tx_returns_[k][tx_returns_len_[k]++] = b;
  if (tx_returns_len_[k] == kBatchMax) push_tx_returns(b->queue, false);
}

void PathWorker::flush_tx_returns() {
  for (int q = 0; q < queue_count(); ++q) push_tx_returns(q, false);
}

// Sent batches go home without a wake-up: the TUN reader takes its returns at the start of
// every loop turn, and it only needs buffers when a TUN read woke it anyway. Unsent batches
// (path down) are different: they must move to a live path now, so they wake it.
void PathWorker::push_tx_returns(int q, bool wake) {
  const auto k = static_cast<std::size_t>(q);
  if (tx_returns_len_[k] == 0) return;
  // Cannot fail: the TX pool has no more buffers than the return ring has slots.
  const std::size_t pushed = tx_return_ring(q).push(tx_returns_[k].data(), tx_returns_len_[k]);
  (void)pushed;
  if (wake) ring_doorbell(ring(), *tun_reader_bells_[k]);
  tx_returns_len_[k] = 0;
}

std::size_t PathWorker::drain_rx_returns() {
  std::array<PacketBuf*, kBatchMax> bufs;
  std::size_t n, total = 0;
  for (int q = 0; q < queue_count(); ++q) {
    while ((n = rx_return_ring(q).pop(bufs.data(), bufs.size())) > 0) {
      for (std::size_t i = 0; i < n; ++i) recycle_rx(bufs[i]);
      total += n;
    }
  }
  return total;
}

void PathWorker::send_tx_batch() {
  for (int q = 0; q < queue_count(); ++q) send_tx_batch(q);
}

void PathWorker::send_tx_batch(int q) {
  std::array<PacketBuf*, kBatchMax> bufs;
  const std::size_t n = tx_ring(q).pop(bufs.data(), bufs.size());
  if (n == 0) return;
  if (down() || peer_len_ == 0 || !has_sockets()) [[unlikely]] {
    // The path is dead (or has nowhere to send): hand the batches back so the reader sends
    // them on a live path.
    const auto k = static_cast<std::size_t>(q);
    for (std::size_t i = 0; i < n; ++i) {
      bufs[i]->unsent = true;
      bump(stats_.tx_unsent);
      tx_returns_[k][tx_returns_len_[k]++] = bufs[i];
      if (tx_returns_len_[k] == kBatchMax) push_tx_returns(q, true);
    }
    push_tx_returns(q, true);
    return;
  }
  bump(stats_.tx_submit_batches);
  for (std::size_t i = 0; i < n; ++i) {
    PacketBuf* b = bufs[i];
    b->iov = {b->data(), b->length};
    b->msg = msghdr{};
    // The kernel copies the address when the SQE is submitted (IORING_FEAT_SUBMIT_STABLE),
    // so a later refresh of peer_ does not touch sends in flight.
    b->msg.msg_name = &peer_;
    b->msg.msg_namelen = peer_len_;
    b->msg.msg_iov = &b->iov;
    b->msg.msg_iovlen = 1;
    if (b->segments > 1) {  // UDP GSO: the kernel cuts the batch into gso_size datagrams
      b->msg.msg_control = b->control;
      b->msg.msg_controllen = sizeof b->control;
      cmsghdr* cm = CMSG_FIRSTHDR(&b->msg);
      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
      std::memcpy(CMSG_DATA(cm), &b->gso_size, sizeof(std::uint16_t));
    }
    io_uring_sqe* sqe = ring().get_sqe();
    io_uring_prep_sendmsg(sqe, tx_fd(b), &b->msg, 0);
    io_uring_sqe_set_data64(sqe, make_user_data(Op::kSend, b));
    ++host_->sends_in_flight_;
  }
}

}  // namespace mpt::engine
