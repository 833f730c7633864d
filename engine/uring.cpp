#include "engine/uring.h"

#include <poll.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "engine/log.h"

namespace mpt::engine {

std::system_error sys_error(int err, const char* what) {
  return std::system_error(err, std::generic_category(), what);
}

Uring::Uring(unsigned entries) {
  io_uring_params p{};
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL;
  p.cq_entries = entries * 4;
  int r = io_uring_queue_init_params(entries, &ring_, &p);
  if (r == -EINVAL) {  // older kernels: plain set-up
    p = io_uring_params{};
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = entries * 4;
    r = io_uring_queue_init_params(entries, &ring_, &p);
  }
  if (r < 0) throw sys_error(-r, "io_uring_queue_init");
}

Uring::~Uring() { io_uring_queue_exit(&ring_); }

io_uring_sqe* Uring::get_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (!sqe) [[unlikely]] {
    int r = io_uring_submit(&ring_);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
      MPT_LOG_RATELIMITED(LogLevel::kError, "io_uring_submit: %s", std::strerror(-r));
    }
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void Uring::submit_and_wait(unsigned wait_nr) {
  for (;;) {
    int r = io_uring_submit_and_wait(&ring_, wait_nr);
    if (r >= 0 || r == -ETIME) return;
    if (r == -EINTR) {
      if (io_uring_cq_ready(&ring_)) return;
      continue;
    }
    if (r == -EAGAIN || r == -EBUSY) {  // CQ overflow back-pressure: reap first
      if (io_uring_cq_ready(&ring_)) return;
      continue;
    }
    MPT_LOG_RATELIMITED(LogLevel::kError, "io_uring_submit_and_wait: %s", std::strerror(-r));
    return;
  }
}

std::size_t Uring::copy_cqes(std::span<io_uring_cqe> out) {
  unsigned head;
  std::size_t n = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    if (n == out.size()) break;
    out[n++] = *cqe;
  }
  io_uring_cq_advance(&ring_, static_cast<unsigned>(n));
  return n;
}

void Uring::watch_stop(int stop_fd) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_poll_add(sqe, stop_fd, POLLIN);
  io_uring_sqe_set_data64(sqe, make_user_data(Op::kStop));
}

void Uring::cancel_all() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
  io_uring_sqe_set_data64(sqe, make_user_data(Op::kCancel));
}

void Uring::wait_for_completions(unsigned timeout_ms) {
  __kernel_timespec ts{};
  ts.tv_sec = timeout_ms / 1000;
  ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1000000;
  io_uring_cqe* cqe = nullptr;
  (void)io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
}

ProvidedBuffers::ProvidedBuffers(Uring& ring, std::uint16_t group_id, unsigned entries)
    : ring_(ring), group_id_(group_id), mask_(io_uring_buf_ring_mask(entries)) {
  map_bytes_ = entries * sizeof(io_uring_buf);
  void* mem = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) throw sys_error(errno, "mmap provided buffer ring");
  br_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uintptr_t>(br_);
  reg.ring_entries = entries;
  reg.bgid = group_id;
  int r = io_uring_register_buf_ring(ring.raw(), &reg, 0);
  if (r < 0) {
    munmap(br_, map_bytes_);
    throw sys_error(-r, "io_uring_register_buf_ring");
  }
}

ProvidedBuffers::~ProvidedBuffers() {
  io_uring_unregister_buf_ring(ring_.raw(), group_id_);
  munmap(br_, map_bytes_);
}

void wake_failed(std::uint64_t user_data) {
  static_cast<Doorbell*>(ptr_of(user_data))->pending.store(false, std::memory_order_seq_cst);
}

void ring_doorbell(Uring& from, Doorbell& to) {
  if (to.pending.exchange(true, std::memory_order_seq_cst)) return;  // a wake is on its way
  io_uring_sqe* sqe = from.get_sqe();
  io_uring_prep_msg_ring(sqe, to.ring_fd, 0, make_user_data(Op::kWake), 0);
  // Only a failed MSG_RING posts a completion on the sender (Op::kMsgRing).
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  io_uring_sqe_set_data64(sqe, make_user_data(Op::kMsgRing, &to));
}

}  // namespace mpt::engine
