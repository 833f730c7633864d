// PacketBuf: one packet's storage plus the little metadata the stages need.
//
// Ownership: every PacketBuf belongs to exactly one BufferPool (its home) and, at any moment,
// to exactly one holder: the pool's free list, the kernel (a provided-buffer ring or an
// in-flight SQE), or one ring/stage. Pushing a PacketBuf* into an SPSC ring hands it over;
// the pusher never touches it again. Buffers go home through return rings (buffer_pool.h).
//
// Layout of the storage: [headroom][packet .....][tail]. On transmit the TUN reader reads
// the inner packet at kTxHeadroom so that the GRE header is prepended in place, with no copy
// (the kernel adds UDP and IP). On receive the path worker's provided buffer holds
// io_uring_recvmsg_out + source address + payload; `offset` points at the inner packet.
#pragma once

#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/gre_udp.h"

namespace mpt::engine {

// Room for the largest GRE header, rounded up to a cache line so the inner packet is aligned.
inline constexpr std::uint32_t kTxHeadroom = 64;
static_assert(kTxHeadroom >= kGreHeaderMax);

struct PacketBuf {
  std::uint8_t* storage = nullptr;  // fixed, kept for the buffer's lifetime
  std::uint32_t capacity = 0;       // bytes of storage
  std::uint32_t offset = 0;         // packet start within storage
  std::uint32_t length = 0;         // packet bytes from offset
  std::uint32_t index = 0;          // index within the home pool (= provided-buffer id)
  std::uint16_t source_port_index = 0;  // transmit: which of the path's sockets to send from
  std::uint16_t path_index = 0;     // transmit: chosen path; receive: path it arrived on
  std::uint8_t queue = 0;           // transmit: the TUN queue whose reader owns the buffer
  bool has_seq = false;             // receive: the GRE header carried a sequence number
  std::uint32_t seq = 0;            // receive: that number

  // Transmit: a batch of `segments` GRE-in-UDP datagrams laid end to end, all `gso_size`
  // bytes but the last (UDP GSO, one sendmsg for the batch). segments == 1: one datagram.
  std::uint16_t segments = 0;
  std::uint16_t gso_size = 0;
  // Transmit: the path was down when the worker popped the batch; it comes back unsent and
  // the TUN reader moves it to a live path (nothing queued for a dead path is lost).
  bool unsent = false;

  // Receive: inner packets of this buffer still held downstream (reorder stage, TUN writer).
  // The worker sets it before publishing them; whoever drops it to 0 sends the buffer home.
  std::atomic<std::uint32_t> refs{0};

  // Transmit only: the sendmsg arguments live with the buffer so an in-flight SQE can point
  // at them until its completion.
  msghdr msg{};
  iovec iov{};
  alignas(cmsghdr) std::uint8_t control[CMSG_SPACE(sizeof(std::uint16_t))]{};

  [[nodiscard]] std::uint8_t* data() { return storage + offset; }
  [[nodiscard]] std::span<std::uint8_t> bytes() { return {storage + offset, length}; }
};

// One inner packet inside a receive buffer (a GRO batch holds several): what flows from a
// path worker through the reorder stage to the TUN writer.
struct PacketRef {
  PacketBuf* buf = nullptr;
  std::uint32_t offset = 0;  // inner packet start within buf->storage
  std::uint32_t length = 0;
  std::uint32_t seq = 0;
  bool has_seq = false;
  // Sealed (keyed connections): which of the peer's keys opened it (SessionKeys::rx slot and
  // its generation), the sender's nonce space and counter -- for the TUN writer's replay window.
  bool sealed = false;
  std::uint8_t key_slot = 0;
  std::uint8_t space = 0;
  std::uint32_t key_gen = 0;
  std::uint64_t counter = 0;
  [[nodiscard]] std::span<const std::uint8_t> bytes() const {
    return {buf->storage + offset, length};
  }
};

}  // namespace mpt::engine
