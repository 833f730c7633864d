// libFuzzer target for the receive-side reorder stage (scheduler/reorder.h): differential,
// against the naive model of its rules (tests/sim/naive_reorder.h), on arrival sequences the
// fuzzer shapes -- the sequence numbers come off the wire and may be anything.
//
// Input: 4 bytes of set-up (window 1..64, max_delay 1..256 ms, paths 1..4, early grace), then
// operations of 6 bytes: [mode/path/expire] [delta, 16 bits] [time step, 16 bits] [extra].
// Modes: the next number of the sender's stream, a number behind it, one ahead, one far
// ahead (window..2^30), a duplicate of the last, a raw 32-bit number, a peer restart at 0.
// Checks, with a hard trap on violation:
//  - Reorder without repair and the model agree after every push and expire(): deliveries,
//    discards, counters, held(), expire()'s and next_deadline()'s answers;
//  - conservation: every push is delivered, discarded or held exactly once; after draining
//    by the deadlines nothing is held; discards are the duplicates;
//  - apart from late packets and resyncs, deliveries come in increasing serial order;
//  - a second Reorder with repair on (not in the model; told of the peer restarts of mode 7
//    half of the time) fed the same arrivals also conserves
//    every packet and drains to nothing held by its own deadlines; every NACK it sends asks
//    for 1..window numbers, attempt 0 or 1.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "scheduler/reorder.h"
#include "tests/sim/naive_reorder.h"

namespace {

using mpt::scheduler::Reorder;
using mpt::scheduler::serial_diff;
using mpt::sim::NaiveReorder;
using mpt::sim::ReorderSink;

constexpr std::uint64_t kMs = 1'000'000;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

struct RepairSink {
  std::vector<int> delivered, discarded;
  std::uint32_t window = 1;
  std::uint64_t nacks = 0;
  void deliver(int item) { delivered.push_back(item); }
  void discard(int item) { discarded.push_back(item); }
  void nack(std::uint32_t, std::uint32_t count, std::uint8_t attempt) {
    check(count >= 1 && count <= window);
    check(attempt <= 1);
    ++nacks;
  }
};

bool same(const ReorderSink& a, const ReorderSink& b) {
  return a.delivered == b.delivered && a.discarded == b.discarded;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const std::uint32_t window = 1 + data[0] % 64;
  const std::uint64_t max_delay = (1 + std::uint64_t{data[1]}) * kMs;
  const int paths = 1 + data[2] % 4;
  const std::uint64_t grace = (data[3] & 0x80) ? std::uint64_t{data[3] & 0x7Fu} * 100'000 : 0;

  Reorder<int> real(window, max_delay, paths, grace);
  NaiveReorder naive(window, max_delay, paths, grace);
  Reorder<int> repaired(window, max_delay, paths, grace);
  repaired.set_repair(max_delay / 8, max_delay / 4);
  ReorderSink real_sink, naive_sink;
  RepairSink repair_sink;
  repair_sink.window = window;

  std::vector<std::uint32_t> seqs;  // per push
  std::vector<bool> late, restart;
  std::uint64_t now = 1000 * kMs;
  std::uint32_t stream = 0x7FFFFFF0u + data[0];  // near the sign change of serial arithmetic
  int pushed = 0;

  auto compare = [&] {
    check(same(real_sink, naive_sink));
    check(mpt::sim::same_stats(real.stats(), naive.stats()));
    check(real.held() == naive.held());
    check(real.next_deadline(now) == naive.next_deadline(now));
    check(real_sink.delivered.size() + real_sink.discarded.size() + real.held() ==
          static_cast<std::size_t>(pushed));
    check(repair_sink.delivered.size() + repair_sink.discarded.size() + repaired.held() ==
          static_cast<std::size_t>(pushed));
  };

  for (std::size_t i = 4; i + 6 <= size && pushed < 20000; i += 6) {
    const std::uint8_t op = data[i];
    const std::uint32_t delta = std::uint32_t{data[i + 1]} << 8 | data[i + 2];
    const std::uint64_t step = (std::uint64_t{data[i + 3]} << 8 | data[i + 4]) * max_delay / 8192;
    const std::uint8_t extra = data[i + 5];
    const int path = (op >> 3) % paths;
    now += step;
    if (op & 0x40) {
      check(real.expire(now, real_sink) == naive.expire(now, naive_sink));
      (void)repaired.expire(now, repair_sink);
      compare();
    }
    std::uint32_t seq = 0;
    switch (op & 7) {
      case 0: case 1: seq = stream++; break;
      case 2: seq = stream - 1 - (delta % (2 * window + 2)); break;
      case 3: seq = stream + 1 + (delta % (2 * window + 2)); break;
      case 4: seq = stream + window + (std::uint32_t{delta} << 14 | extra); break;
      case 5: seq = seqs.empty() ? stream : seqs.back(); break;
      case 6: seq = std::uint32_t{delta} << 16 | std::uint32_t{extra} << 8 | data[i + 3]; break;
      default:  // the peer restarts at 0; the copy with repair on is told so (not in the model)
        stream = 0;
        seq = stream++;
        if (extra & 1) repaired.peer_restarted(now);
        break;
    }
    const auto before = real.stats();
    real.push(seq, path, now, pushed, real_sink);
    naive.push(seq, path, now, pushed, naive_sink);
    repaired.push(seq, path, now, pushed, repair_sink);
    seqs.push_back(seq);
    late.push_back(real.stats().late != before.late);
    restart.push_back(real.stats().resyncs != before.resyncs);
    ++pushed;
    compare();
  }
  // Drain by the deadlines only.
  // Each expire() at the deadline must make progress: fewer held, or a later deadline.
  for (std::uint64_t d = real.next_deadline(now), guard = 0; d != Reorder<int>::kNever;
       d = real.next_deadline(now), ++guard) {
    check(guard < 100000);
    const std::uint32_t held = real.held();
    now = std::max(now, d);
    check(real.expire(now, real_sink) == naive.expire(now, naive_sink));
    compare();
    check(real.held() < held || real.next_deadline(now) > now);
  }
  check(real.held() == 0);
  for (int guard = 0; repaired.held() > 0 && guard < 100000; ++guard) {
    const std::uint64_t d = repaired.next_deadline(now);
    check(d != Reorder<int>::kNever);
    now = std::max(now + 1, d);
    repaired.expire(now, repair_sink);
  }
  check(repaired.held() == 0);

  std::vector<int> seen(static_cast<std::size_t>(pushed), 0), seen_r(static_cast<std::size_t>(pushed), 0);
  for (int x : real_sink.delivered) ++seen[static_cast<std::size_t>(x)];
  for (int x : real_sink.discarded) ++seen[static_cast<std::size_t>(x)];
  for (int x : repair_sink.delivered) ++seen_r[static_cast<std::size_t>(x)];
  for (int x : repair_sink.discarded) ++seen_r[static_cast<std::size_t>(x)];
  for (int k = 0; k < pushed; ++k) {
    check(seen[static_cast<std::size_t>(k)] == 1);
    check(seen_r[static_cast<std::size_t>(k)] == 1);
  }
  check(real_sink.discarded.size() == real.stats().duplicate);
  check(repair_sink.discarded.size() == repaired.stats().duplicate);
  bool have_last = false;
  std::uint32_t last = 0;
  for (int item : real_sink.delivered) {
    const auto k = static_cast<std::size_t>(item);
    if (late[k]) continue;
    if (have_last && !restart[k]) check(serial_diff(seqs[k], last) > 0);
    have_last = true;
    last = seqs[k];
  }
  return 0;
}
