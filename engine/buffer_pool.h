// BufferPool: a fixed number of equally sized PacketBufs allocated once at start-up.
//
// Thread ownership: a pool belongs to one thread (its owner), which alone calls take()/put().
// Other threads that end up holding one of its buffers send it home through a ReturnRing,
// which the owner drains (drain_returns). Nothing here allocates after construction.
// Memory ordering: the SPSC ring's push (release) / pop (acquire) make the buffer's contents
// and metadata written by the returning thread visible to the owner.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/lockfree/spsc_queue.hpp>

#include <array>
#include <atomic>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/packet_buf.h"

namespace mpt::engine {

// Single-producer single-consumer ring of buffer pointers. kCapacity is fixed at compile
// time; push/pop take whole batches so the cost of publishing is paid once per batch.
template <std::size_t kCapacity>
using PacketRing = boost::lockfree::spsc_queue<PacketBuf*, boost::lockfree::capacity<kCapacity>>;

inline constexpr std::size_t kRingCapacity = 2048;        // every data ring
inline constexpr std::size_t kReturnRingCapacity = 4096;  // every return ring (>= its pool)
inline constexpr std::size_t kBatchMax = 256;             // packets per loop turn and stage
// Receive buffers per path (each up to a 64 KB GRO batch); see path_worker.cpp for sizing.
inline constexpr unsigned kRxPoolCount = 512;
// The reorder window, in packets (see TunWriter::hold for how it may pin receive buffers).
inline constexpr std::uint32_t kMaxReorderWindow = 8192;
using DataRing = PacketRing<kRingCapacity>;      // TUN reader -> path worker (send batches)
using ReturnRing = PacketRing<kReturnRingCapacity>;
// Path worker -> TUN writer: inner packets inside receive buffers. Room for every packet
// the receive pool can hold (each buffer a GRO batch of up to 64 datagrams), so the ring is
// never what drops a packet: when the writer lags, the pool runs dry first and the kernel
// keeps the datagrams in the socket buffer (backpressure, not loss).
inline constexpr std::size_t kRefRingCapacity = 32768;
using RefRing = boost::lockfree::spsc_queue<PacketRef, boost::lockfree::capacity<kRefRingCapacity>>;

// A control message received on a path, copied out of the receive buffer for the control
// thread (control rate: a copy is fine).
struct ControlPacket {
  std::uint64_t rx_time_us = 0;  // CLOCK_MONOTONIC when the worker handled it
  // The path's data counters at that moment: everything sent ahead of a probe on this path
  // (FIFO) is counted here unless lost, so the peer's loss and delivery-rate samples are
  // exact rather than blurred by the control thread's answer delay.
  std::uint64_t rx_packets_before = 0;
  std::uint64_t rx_bytes_before = 0;
  // Where it came from (sockaddr_in or sockaddr_in6): the control thread answers a handshake
  // there and learns the peer's address from authenticated messages.
  sockaddr_in6 from{};
  socklen_t from_len = 0;
  std::uint16_t length = 0;
  std::array<std::uint8_t, 120> data{};
};
using ControlRing = boost::lockfree::spsc_queue<ControlPacket, boost::lockfree::capacity<1024>>;

// A path-state change for the TUN reader's scheduler (control thread -> TUN reader).
struct PathCommand {
  int path = 0;
  std::uint32_t weight = 1;
  bool up = true;
};

// A run of sequence numbers the peer asks to have sent again (a NACK range, engine/
// repair_message.h), path worker -> TUN reader. Full ring: the request is dropped and counted
// (the peer's reorder stage then gives the gap up as lost, as without repair).
struct RepairRequest {
  std::uint32_t first = 0;
  std::uint16_t count = 0;
  std::uint8_t attempt = 0;  // 0: first request, 1: the repair sent for the first did not come
  // Sealed requests: the key slot and generation that opened the message and its counter,
  // for the TUN reader's replay check (once per message: `first_of_message`). kPlain: a
  // plain request (connection without keys).
  static constexpr std::uint8_t kPlain = 0xFF;
  std::uint8_t key_slot = kPlain;
  std::uint8_t nonce_space = 0;  // sealed: the space the peer's writer sealed it in
  bool first_of_message = false;
  std::uint32_t key_gen = 0;
  std::uint64_t counter = 0;
};
using RepairRing = boost::lockfree::spsc_queue<RepairRequest, boost::lockfree::capacity<1024>>;

class BufferPool {
 public:
  BufferPool(std::size_t count, std::uint32_t buf_size);
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // count(), buf_size(), free_now(), free_low_water() and memory_bytes() may be read from
  // any thread (status, the soak's leak check); the rest is the owner thread's.
  [[nodiscard]] std::size_t count() const { return count_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint32_t buf_size() const { return buf_size_; }
  [[nodiscard]] std::size_t free_count() const { return free_.size(); }
  // Free buffers as of the owner's last take/put (published with a relaxed store).
  [[nodiscard]] std::size_t free_now() const { return free_now_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::size_t free_low_water() const {
    return free_low_water_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t memory_bytes() const { return count() * buf_size_; }

  // Owner thread only.
  [[nodiscard]] PacketBuf* take() {
    if (free_.empty()) [[unlikely]] return nullptr;
    PacketBuf* b = free_.back();
    free_.pop_back();
    free_now_.store(free_.size(), std::memory_order_relaxed);
    if (free_.size() < free_low_water_.load(std::memory_order_relaxed)) {
      free_low_water_.store(free_.size(), std::memory_order_relaxed);  // only this thread writes
    }
    return b;
  }
  void put(PacketBuf* b) {  // capacity reserved: never reallocates
    free_.push_back(b);
    free_now_.store(free_.size(), std::memory_order_relaxed);
  }
  // The first count() buffers at construction, by index (provided-buffer ids).
  [[nodiscard]] PacketBuf* at(std::size_t index) { return &bufs_[index]; }

  // Adds `extra` buffers (a reload that adds connections needs more hold buffers). Owner
  // thread, outside the data path (it allocates); never for a pool registered with the
  // kernel as a provided-buffer ring.
  void grow(std::size_t extra);

 private:
  using Storage = std::unique_ptr<std::uint8_t[], void (*)(std::uint8_t*)>;
  std::uint32_t buf_size_;
  Storage storage_;
  std::unique_ptr<PacketBuf[]> bufs_;
  std::vector<std::pair<Storage, std::unique_ptr<PacketBuf[]>>> grown_;
  std::atomic<std::size_t> count_;
  std::vector<PacketBuf*> free_;
  std::atomic<std::size_t> free_low_water_;
  std::atomic<std::size_t> free_now_;
};

}  // namespace mpt::engine
