// BufferPool: take/put accounting, and the statistics the control thread reads while the
// owner thread works (a data race before free_low_water_ and count_ were atomic: this test
// fails under the TSan build of the suite then).
#include "engine/buffer_pool.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using mpt::engine::BufferPool;
using mpt::engine::PacketBuf;

TEST_CASE("BufferPool counts what is taken and remembers the fewest free") {
  BufferPool pool(8, 100);
  CHECK(pool.count() == 8);
  CHECK(pool.buf_size() == 128);  // rounded up to a cache line multiple
  std::vector<PacketBuf*> taken;
  for (int i = 0; i < 5; ++i) taken.push_back(pool.take());
  CHECK(pool.free_count() == 3);
  for (PacketBuf* b : taken) pool.put(b);
  CHECK(pool.free_count() == 8);
  CHECK(pool.free_low_water() == 3);
  pool.grow(4);
  CHECK(pool.count() == 12);
  CHECK(pool.free_count() == 12);
  CHECK(pool.free_low_water() == 7);
  for (int i = 0; i < 12; ++i) REQUIRE(pool.take() != nullptr);
  CHECK(pool.take() == nullptr);
  CHECK(pool.free_low_water() == 0);
}

TEST_CASE("BufferPool statistics can be read from another thread while the owner works") {
  BufferPool pool(64, 64);
  std::atomic<bool> stop{false};
  std::size_t seen = 0;
  std::thread status([&] {  // the control thread rendering `mpt status`
    do {  // at least once, however soon the owner is done
      seen = std::max(seen, pool.count() + pool.free_low_water() + pool.memory_bytes());
    } while (!stop.load(std::memory_order_relaxed));
  });
  for (int round = 0; round < 2000; ++round) {  // the owner: take, put, grow now and then
    std::vector<PacketBuf*> taken;
    for (int i = 0; i < 1 + round % 32; ++i) taken.push_back(pool.take());
    for (PacketBuf* b : taken) pool.put(b);
    if (round % 500 == 0) pool.grow(1);
  }
  stop = true;
  status.join();
  CHECK(pool.count() == 68);
  CHECK(seen > 0);
}
