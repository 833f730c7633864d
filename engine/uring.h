// Thin io_uring layer shared by every data-plane thread (TUN reader, path workers, TUN writer).
//
// One turn of every loop: prepare many SQEs, submit once (submit_and_wait), copy the CQEs out
// (copy_cqes), and only then run the handlers. SQ-full and EINTR are handled here and nowhere
// else. Each Uring belongs to one thread; only Doorbell::pending is touched by other threads.
//
// Wake-ups between threads use IORING_OP_MSG_RING: a producer that pushed into a consumer's
// ring prepares one MSG_RING SQE (at most one outstanding per consumer, see Doorbell), which
// goes out with the producer's next submit -- no extra syscall. Memory ordering: the consumer
// clears `pending` (seq_cst) before draining its rings, the producer pushes (release) before
// exchanging `pending` (seq_cst), so a push is either seen by the drain or followed by a wake.
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <span>
#include <system_error>

#include "engine/packet_buf.h"

namespace mpt::engine {

// What a CQE is for: the top byte of user_data; the rest is a PacketBuf* or 0.
enum class Op : std::uint8_t {
  kNone = 0, kRecv, kSend, kTunRead, kTunWrite, kWake, kStop, kMsgRing, kTimer, kCancel,
  kCommand
};

[[nodiscard]] inline std::uint64_t make_user_data(Op op, const void* p = nullptr) {
  return (std::uint64_t{static_cast<std::uint8_t>(op)} << 56) |
         (reinterpret_cast<std::uintptr_t>(p) & ((std::uint64_t{1} << 56) - 1));
}
[[nodiscard]] constexpr Op op_of(std::uint64_t user_data) {
  return static_cast<Op>(user_data >> 56);
}
[[nodiscard]] inline void* ptr_of(std::uint64_t user_data) {
  return reinterpret_cast<void*>(user_data & ((std::uint64_t{1} << 56) - 1));
}
[[nodiscard]] inline PacketBuf* buf_of(std::uint64_t user_data) {
  return static_cast<PacketBuf*>(ptr_of(user_data));
}
// Handles an Op::kMsgRing completion (only failures post one): allow the next wake-up.
struct Doorbell;
void wake_failed(std::uint64_t user_data);

// Kernel opcodes newer than Debian's liburing 2.3 headers.
inline constexpr std::uint8_t kOpReadMultishot = 49;  // IORING_OP_READ_MULTISHOT (Linux 6.7)

class Uring {
 public:
  explicit Uring(unsigned entries);  // throws std::system_error (setup, not data path)
  ~Uring();
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;

  [[nodiscard]] int fd() const { return ring_.ring_fd; }
  [[nodiscard]] io_uring* raw() { return &ring_; }

  // Never returns null: when the SQ is full it submits what is queued first.
  [[nodiscard]] io_uring_sqe* get_sqe();
  // Submits everything prepared and waits for at least `wait_nr` completions.
  void submit_and_wait(unsigned wait_nr);
  // Copies up to out.size() CQEs and marks them seen. Returns how many.
  [[nodiscard]] std::size_t copy_cqes(std::span<io_uring_cqe> out);

  // Arms a one-shot poll on `fd` (the daemon's stop eventfd); its CQE carries Op::kStop.
  void watch_stop(int stop_fd);

  // Shutdown: cancels every request in flight. The caller then reaps with
  // wait_for_completions() until its own counts of in-flight operations reach zero, so that
  // sockets and the TUN are released before the thread ends (a request in flight holds a
  // reference to its file, and the kernel would otherwise release it later, asynchronously).
  void cancel_all();
  // Submits and waits up to `timeout_ms` for at least one completion.
  void wait_for_completions(unsigned timeout_ms);

 private:
  io_uring ring_{};
};

// A provided-buffer ring (IORING_REGISTER_PBUF_RING) filled from one BufferPool.
// liburing 2.3 has no io_uring_setup_buf_ring: the ring memory is mapped here.
class ProvidedBuffers {
 public:
  ProvidedBuffers(Uring& ring, std::uint16_t group_id, unsigned entries);  // entries: power of 2
  ~ProvidedBuffers();
  ProvidedBuffers(const ProvidedBuffers&) = delete;
  ProvidedBuffers& operator=(const ProvidedBuffers&) = delete;

  // Stages `b` for the kernel, which may fill storage[data_offset, capacity).
  void add(PacketBuf* b, std::uint32_t data_offset) {
    io_uring_buf_ring_add(br_, b->storage + data_offset, b->capacity - data_offset,
                          static_cast<unsigned short>(b->index), mask_, staged_++);
  }
  // Publishes staged buffers to the kernel (one release store).
  void publish() {
    if (staged_) io_uring_buf_ring_advance(br_, staged_);
    staged_ = 0;
  }
  [[nodiscard]] std::uint16_t group_id() const { return group_id_; }

 private:
  Uring& ring_;
  io_uring_buf_ring* br_ = nullptr;
  std::size_t map_bytes_ = 0;
  std::uint16_t group_id_;
  int mask_;
  int staged_ = 0;
};

// The consumer side's address for wake-ups. One per consumer thread.
struct Doorbell {
  int ring_fd = -1;
  std::atomic<bool> pending{false};
};

// Producer side: queue a wake for `to` on `from` unless one is already outstanding.
void ring_doorbell(Uring& from, Doorbell& to);
// Consumer side: call on every Op::kWake completion, before draining the rings.
inline void doorbell_answered(Doorbell& d) { d.pending.store(false, std::memory_order_seq_cst); }

[[nodiscard]] std::system_error sys_error(int err, const char* what);

}  // namespace mpt::engine
