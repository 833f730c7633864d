#include "engine/buffer_pool.h"

#include <cstdlib>
#include <new>

namespace mpt::engine {
namespace {
std::uint8_t* alloc_storage(std::size_t bytes) {
  void* p = std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
  if (!p) throw std::bad_alloc();
  return static_cast<std::uint8_t*>(p);
}
void free_storage(std::uint8_t* p) { std::free(p); }
}  // namespace

BufferPool::BufferPool(std::size_t count, std::uint32_t buf_size)
    : buf_size_((buf_size + 63) / 64 * 64),
      storage_(alloc_storage(count * ((buf_size + 63) / 64 * 64)), free_storage),
      bufs_(std::make_unique<PacketBuf[]>(count)),
      count_(count),
      free_low_water_(count),
      free_now_(count) {
  free_.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    PacketBuf& b = bufs_[i];
    b.storage = storage_.get() + i * buf_size_;
    b.capacity = buf_size_;
    b.index = static_cast<std::uint32_t>(i);
  }
  for (std::size_t i = count; i-- > 0;) free_.push_back(&bufs_[i]);
}

void BufferPool::grow(std::size_t extra) {
  if (extra == 0) return;
  Storage storage(alloc_storage(extra * buf_size_), free_storage);
  auto bufs = std::make_unique<PacketBuf[]>(extra);
  const std::size_t count = count_.load(std::memory_order_relaxed);
  free_.reserve(count + extra);
  for (std::size_t i = 0; i < extra; ++i) {
    PacketBuf& b = bufs[i];
    b.storage = storage.get() + i * buf_size_;
    b.capacity = buf_size_;
    b.index = static_cast<std::uint32_t>(count + i);
    free_.push_back(&b);
  }
  free_low_water_.fetch_add(extra, std::memory_order_relaxed);
  free_now_.store(free_.size(), std::memory_order_relaxed);
  count_.store(count + extra, std::memory_order_relaxed);
  grown_.emplace_back(std::move(storage), std::move(bufs));
}

}  // namespace mpt::engine
