// Unit tests for the receive-side reorder stage (scheduler/reorder.h).
//
// The random tests compare Reorder with a deliberately naive model of the rules in
// reorder.h's header comment: held packets live in a std::map keyed by an unwrapped 64-bit
// position, everything is a linear walk, nothing is clever. Both are fed the same random
// arrival sequences (reordering, loss, duplicates, stale numbers, peer restarts, wrap-around)
// and must agree on every delivery, discard, counter, held() and next_deadline(now).
#include "scheduler/reorder.h"
#include "tests/sim/naive_reorder.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <set>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using mpt::scheduler::Reorder;
using mpt::scheduler::ReorderStats;
using mpt::scheduler::serial_diff;
using mpt::sim::NaiveReorder;
using mpt::sim::same_stats;
using Sink = mpt::sim::ReorderSink;

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kNever = Reorder<int>::kNever;

std::string describe(const ReorderStats& s) {
  std::ostringstream out;
  out << "in_order=" << s.in_order << " reordered=" << s.reordered << " late=" << s.late
      << " duplicate=" << s.duplicate << " lost=" << s.lost << " timeouts=" << s.timeouts
      << " resyncs=" << s.resyncs;
  return out.str();
}

struct Arrival {
  std::uint32_t seq;
  int path;
};

// A random arrival sequence: numbers from `start` on, assigned to paths, locally shuffled,
// with losses, duplicates, occasional stale or far-ahead numbers and peer restarts.
std::vector<Arrival> random_arrivals(std::mt19937_64& rng, std::size_t count, int paths,
                                     std::uint32_t start, std::uint32_t window) {
  std::uniform_real_distribution<double> coin(0, 1);
  const double loss = coin(rng) * 0.1;
  const double duplicate = coin(rng) * 0.05;
  const double shuffle = coin(rng);
  const double oddity = coin(rng) < 0.5 ? 0 : 0.005;  // stale / far-ahead / restart
  std::vector<Arrival> out;
  std::uint32_t seq = start;
  for (std::size_t i = 0; i < count; ++i) {
    const double r = coin(rng);
    if (r < oddity / 3) {  // a stale number far behind
      out.push_back({seq - std::uniform_int_distribution<std::uint32_t>(window + 1, 1u << 30)(rng), 0});
    } else if (r < 2 * oddity / 3) {  // a number far ahead
      out.push_back({seq + std::uniform_int_distribution<std::uint32_t>(window, 1u << 30)(rng), 0});
    } else if (r < oddity) {  // the peer restarts its counter
      seq = 0;
    }
    const int path = std::uniform_int_distribution<int>(0, paths - 1)(rng);
    if (coin(rng) >= loss) out.push_back({seq, path});
    if (coin(rng) < duplicate) out.push_back({seq, path});
    ++seq;
  }
  // Local reordering: swap with a near neighbour.
  const std::uint32_t reach = std::max<std::uint32_t>(2, window + window / 2);
  for (std::size_t i = 0; i + 1 < out.size(); ++i) {
    if (coin(rng) < shuffle * 0.3) {
      const std::size_t j = std::min(out.size() - 1, i + std::uniform_int_distribution<std::size_t>(1, reach)(rng));
      std::swap(out[i], out[j]);
    }
  }
  for (Arrival& a : out) a.path = std::uniform_int_distribution<int>(0, paths - 1)(rng);
  return out;
}

// Per-path FIFO arrivals: numbers spread over paths, each path delivers its own in order, the
// paths interleave at random (what a real multipath connection looks like).
std::vector<Arrival> fifo_arrivals(std::mt19937_64& rng, std::size_t count, int paths,
                                   std::uint32_t start, double loss) {
  std::vector<std::vector<std::uint32_t>> per_path(static_cast<std::size_t>(paths));
  std::uniform_real_distribution<double> coin(0, 1);
  for (std::size_t i = 0; i < count; ++i) {
    const auto p = static_cast<std::size_t>(std::uniform_int_distribution<int>(0, paths - 1)(rng));
    if (coin(rng) >= loss) per_path[p].push_back(start + static_cast<std::uint32_t>(i));
  }
  std::vector<std::size_t> next(per_path.size(), 0);
  std::vector<Arrival> out;
  while (true) {
    std::vector<int> open;
    for (std::size_t p = 0; p < per_path.size(); ++p) {
      if (next[p] < per_path[p].size()) open.push_back(static_cast<int>(p));
    }
    if (open.empty()) break;
    // Bias towards path 0 so that the others lag behind it.
    int p = open[std::uniform_int_distribution<std::size_t>(0, open.size() - 1)(rng)];
    if (coin(rng) < 0.3 && next[0] < per_path[0].size()) p = 0;
    const auto pi = static_cast<std::size_t>(p);
    out.push_back({per_path[pi][next[pi]++], p});
  }
  return out;
}

// Runs both models over `arrivals`, with random time steps and expire() calls, and checks
// that they agree after every step and that every pushed packet is accounted for.
void run_differential(std::mt19937_64& rng, const std::vector<Arrival>& arrivals,
                      std::uint32_t window, std::uint64_t max_delay, int paths,
                      std::uint64_t grace) {
  Reorder<int> real(window, max_delay, paths, grace);
  NaiveReorder naive(window, max_delay, paths, grace);
  Sink real_sink, naive_sink;
  std::uint64_t now = 1'000 * kMs;
  const std::uint64_t max_step = max_delay / std::uniform_int_distribution<std::uint64_t>(2, 50)(rng);
  std::uniform_real_distribution<double> coin(0, 1);
  const double expire_chance = coin(rng);
  int pushed = 0;
  std::vector<bool> late_item, restart_item;
  auto compare = [&](const char* after) {
    INFO("after " << after << " #" << pushed << " at " << now);
    INFO("real:  " << describe(real.stats()));
    INFO("naive: " << describe(naive.stats()));
    REQUIRE(real_sink.delivered == naive_sink.delivered);
    REQUIRE(real_sink.discarded == naive_sink.discarded);
    REQUIRE(same_stats(real.stats(), naive.stats()));
    REQUIRE(real.held() == naive.held());
    REQUIRE(real.next_deadline(now) == naive.next_deadline(now));
    // Conservation: every push is delivered, discarded or held, exactly once.
    REQUIRE(real_sink.delivered.size() + real_sink.discarded.size() + real.held() ==
            static_cast<std::size_t>(pushed));
  };
  for (const Arrival& a : arrivals) {
    now += std::uniform_int_distribution<std::uint64_t>(0, max_step)(rng);
    if (coin(rng) < expire_chance) {
      const std::uint64_t r = real.expire(now, real_sink);
      const std::uint64_t n = naive.expire(now, naive_sink);
      REQUIRE(r == n);
      compare("expire");
    }
    INFO("push seq " << a.seq << " path " << a.path);
    const ReorderStats before = real.stats();
    real.push(a.seq, a.path, now, pushed, real_sink);
    naive.push(a.seq, a.path, now, pushed, naive_sink);
    late_item.push_back(real.stats().late != before.late);
    restart_item.push_back(real.stats().resyncs != before.resyncs);
    ++pushed;
    compare("push");
  }
  // Drain by deadlines only.
  for (std::uint64_t d = real.next_deadline(now); d != kNever; d = real.next_deadline(now)) {
    now = std::max(now, d);
    REQUIRE(real.expire(now, real_sink) == naive.expire(now, naive_sink));
    compare("drain");
  }
  REQUIRE(real.held() == 0);
  // Items are unique per push and no held packet is ever dropped: each push shows up exactly
  // once, in delivered or discarded.
  std::vector<int> seen(static_cast<std::size_t>(pushed), 0);
  for (int i : real_sink.delivered) ++seen[static_cast<std::size_t>(i)];
  for (int i : real_sink.discarded) ++seen[static_cast<std::size_t>(i)];
  for (int i = 0; i < pushed; ++i) {
    INFO("push #" << i);
    REQUIRE(seen[static_cast<std::size_t>(i)] == 1);
  }
  REQUIRE(real_sink.discarded.size() == real.stats().duplicate);
  // Independent of the model: apart from late packets, what comes out is in increasing serial
  // order, except that a resync starts the order afresh at the packet that caused it.
  bool have_last = false;
  std::uint32_t last = 0;
  for (int item : real_sink.delivered) {
    const auto i = static_cast<std::size_t>(item);
    if (late_item[i]) continue;
    const std::uint32_t seq = arrivals[i].seq;
    if (have_last && !restart_item[i]) {
      INFO("delivered seq " << seq << " after " << last);
      REQUIRE(serial_diff(seq, last) > 0);
    }
    have_last = true;
    last = seq;
  }
  REQUIRE(real_sink.delivered.size() ==
          real.stats().in_order + real.stats().reordered + real.stats().late);
}

// Pushes seqs from one path at one time and returns what came out.
struct Driver {
  Reorder<int> r;
  Sink sink;
  int next_item = 0;
  Driver(std::uint32_t window, std::uint64_t max_delay, int paths, std::uint64_t grace = 0)
      : r(window, max_delay, paths, grace) {}
  void push(std::uint32_t seq, int path, std::uint64_t now) { r.push(seq, path, now, static_cast<int>(seq), sink); }
  std::vector<int> take() {
    std::vector<int> out;
    out.swap(sink.delivered);
    return out;
  }
};

}  // namespace

TEST_CASE("Reorder agrees with a naive model on random arrival sequences") {
  const std::uint64_t seed = GENERATE(take(60, random(std::uint64_t{1}, std::uint64_t{1} << 40)));
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const std::uint32_t window = std::vector<std::uint32_t>{1, 2, 3, 4, 5, 8, 16, 64, 100}[rng() % 9];
  const int paths = std::uniform_int_distribution<int>(1, 4)(rng);
  const std::uint64_t max_delay = std::uniform_int_distribution<std::uint64_t>(1, 100)(rng) * kMs;
  const std::uint32_t start = std::vector<std::uint32_t>{0, 0xFFFFFFFFu - 50, static_cast<std::uint32_t>(rng())}[rng() % 3];
  const std::uint64_t grace = rng() % 2 ? 0 : max_delay / std::uniform_int_distribution<std::uint64_t>(1, 20)(rng);
  CAPTURE(window, paths, max_delay, start, grace);
  const auto arrivals = random_arrivals(rng, 1500, paths, start, window);
  run_differential(rng, arrivals, window, max_delay, paths, grace);
}

TEST_CASE("Reorder agrees with a naive model when every path is FIFO") {
  const std::uint64_t seed = GENERATE(take(40, random(std::uint64_t{1}, std::uint64_t{1} << 40)));
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const std::uint32_t window = std::vector<std::uint32_t>{4, 16, 64, 256}[rng() % 4];
  const int paths = std::uniform_int_distribution<int>(2, 4)(rng);
  const std::uint64_t max_delay = std::uniform_int_distribution<std::uint64_t>(5, 100)(rng) * kMs;
  const std::uint32_t start = rng() % 2 ? 0xFFFFFFFFu - 300 : static_cast<std::uint32_t>(rng());
  const double loss = std::uniform_real_distribution<double>(0, 0.05)(rng);
  const std::uint64_t grace = rng() % 2 ? 0 : max_delay / std::uniform_int_distribution<std::uint64_t>(1, 20)(rng);
  CAPTURE(window, paths, max_delay, start, loss, grace);
  const auto arrivals = fifo_arrivals(rng, 2000, paths, start, loss);
  run_differential(rng, arrivals, window, max_delay, paths, grace);
}

TEST_CASE("an in-order stream is delivered at once and nothing is ever held") {
  Driver d(64, 50 * kMs, 2);
  std::uint64_t now = 0;
  for (std::uint32_t s = 0; s < 1000; ++s) {
    d.push(s, static_cast<int>(s % 2), now += 10'000);
    REQUIRE(d.take() == std::vector<int>{static_cast<int>(s)});
    REQUIRE(d.r.held() == 0);
    REQUIRE(d.r.next_deadline(now) == kNever);
  }
  CHECK(d.r.stats().in_order == 1000);
  CHECK(d.r.stats().reordered + d.r.stats().late + d.r.stats().lost + d.r.stats().timeouts == 0);
}

TEST_CASE("two swapped packets are delivered in order") {
  Driver d(64, 50 * kMs, 2);
  d.push(0, 0, 1);
  d.push(1, 1, 2);  // path 1 is now known and active
  d.push(3, 0, 3);  // 2 is still on path 1, which has not gone past it
  CHECK(d.take() == std::vector<int>{0, 1});
  CHECK(d.r.held() == 1);
  d.push(2, 1, 4);
  CHECK(d.take() == std::vector<int>{2, 3});
  CHECK(d.r.held() == 0);
  CHECK(d.r.stats().reordered == 1);
  CHECK(d.r.stats().lost == 0);
}

TEST_CASE("a gap is declared lost as soon as every active path has delivered beyond it") {
  Driver d(64, 50 * kMs, 2);
  d.push(0, 0, 1 * kMs);
  d.push(1, 1, 1 * kMs);
  d.push(3, 0, 2 * kMs);  // 2 missing; path 1 (last 1) might still bring it
  CHECK(d.take() == std::vector<int>{0, 1});
  d.push(4, 0, 3 * kMs);  // path 0 going further tells nothing about path 1
  CHECK(d.take().empty());
  d.push(5, 1, 4 * kMs);  // path 1 is past 2 as well: 2 is lost, no need to wait
  CHECK(d.take() == std::vector<int>{3, 4, 5});
  CHECK(d.r.stats().lost == 1);
  CHECK(d.r.stats().timeouts == 0);
  CHECK(d.r.held() == 0);
}

TEST_CASE("a gap is held until max_delay while a path that may carry it is active and behind") {
  const std::uint64_t max_delay = 50 * kMs;
  Driver d(64, max_delay, 2);
  d.push(0, 0, 0);
  d.push(1, 1, 0);
  for (std::uint32_t s = 3; s < 20; ++s) d.push(s, 0, s * kMs);  // only path 0 moves on
  CHECK(d.take() == std::vector<int>{0, 1});
  CHECK(d.r.held() == 17);
  CHECK(d.r.next_deadline(20 * kMs) == 3 * kMs + max_delay);
  CHECK(d.r.expire(3 * kMs + max_delay - 1, d.sink) == 3 * kMs + max_delay);
  CHECK(d.take().empty());
  // At the deadline the gap is given up and everything after it comes out.
  CHECK(d.r.expire(3 * kMs + max_delay, d.sink) == kNever);
  std::vector<int> expected;
  for (int s = 3; s < 20; ++s) expected.push_back(s);
  CHECK(d.take() == expected);
  CHECK(d.r.stats().lost == 1);
  CHECK(d.r.stats().timeouts == 1);
}

TEST_CASE("with an early grace, a gap known to be lost still waits the grace before it is skipped") {
  const std::uint64_t grace = 1 * kMs;
  Driver d(64, 50 * kMs, 2, grace);
  d.push(0, 0, 0);
  d.push(1, 1, 0);
  d.push(3, 0, 10 * kMs);                  // 2 missing, path 1 behind
  d.push(4, 1, 10 * kMs + grace / 2);      // now both paths are past 2
  CHECK(d.take() == std::vector<int>{0, 1});
  CHECK(d.r.next_deadline(10 * kMs + grace / 2) == 10 * kMs + grace);  // not max_delay
  CHECK(d.r.expire(10 * kMs + grace - 1, d.sink) == 10 * kMs + grace);
  CHECK(d.take().empty());
  CHECK(d.r.expire(10 * kMs + grace, d.sink) == kNever);
  CHECK(d.take() == std::vector<int>{3, 4});
  CHECK(d.r.stats().lost == 1);
  CHECK(d.r.stats().timeouts == 0);

  SECTION("a neighbour swapped by less than the grace is not called lost") {
    Driver e(64, 50 * kMs, 2, grace);
    e.push(0, 0, 0);
    e.push(1, 1, 0);
    e.push(3, 0, 10 * kMs);
    e.push(4, 1, 10 * kMs + 10'000);
    e.push(2, 0, 10 * kMs + 20'000);  // a path that is FIFO only nearly
    CHECK(e.take() == std::vector<int>{0, 1, 2, 3, 4});
    CHECK(e.r.stats().lost == 0);
    CHECK(e.r.stats().late == 0);
  }
}

TEST_CASE("a path that has been idle for max_delay no longer holds gaps back") {
  const std::uint64_t max_delay = 50 * kMs;
  Driver d(64, max_delay, 2);
  d.push(0, 1, 0);
  d.push(1, 0, 1 * kMs);
  d.push(3, 0, 30 * kMs);  // path 1 (at 0) is still active: 2 may come on it
  CHECK(d.take() == std::vector<int>{0, 1});
  // Path 1 silent since t=0 while path 0 kept delivering: idle, so 2 is lost at once.
  d.push(4, 0, 60 * kMs);
  CHECK(d.take() == std::vector<int>{3, 4});
  CHECK(d.r.stats().lost == 1);
  CHECK(d.r.stats().timeouts == 0);
}

TEST_CASE("expire releases at the deadline and returns the next deadline") {
  const std::uint64_t max_delay = 10 * kMs;
  Driver d(64, max_delay, 2);
  d.push(0, 0, 0);
  d.push(1, 1, 0);
  d.push(3, 0, 1 * kMs);  // gap at 2
  d.push(6, 0, 4 * kMs);  // gaps at 4, 5
  d.take();
  CHECK(d.r.next_deadline(4 * kMs) == 11 * kMs);
  CHECK(d.r.expire(0, d.sink) == 11 * kMs);
  CHECK(d.r.expire(11 * kMs - 1, d.sink) == 11 * kMs);
  CHECK(d.take().empty());
  CHECK(d.r.expire(11 * kMs, d.sink) == 14 * kMs);  // 3 released, 6 still waits for 4, 5
  CHECK(d.take() == std::vector<int>{3});
  CHECK(d.r.next_deadline(11 * kMs) == 14 * kMs);
  CHECK(d.r.expire(14 * kMs, d.sink) == kNever);
  CHECK(d.take() == std::vector<int>{6});
  CHECK(d.r.stats().timeouts == 2);
  CHECK(d.r.stats().lost == 3);
  CHECK(d.r.expire(100 * kMs, d.sink) == kNever);  // nothing held: harmless
}

TEST_CASE("sequence numbers wrap from 0xFFFFFFFF to 0 seamlessly, with reordering") {
  Driver d(16, 50 * kMs, 2);
  const std::uint32_t start = 0xFFFFFFFFu - 5;
  std::vector<std::uint32_t> order;
  for (std::uint32_t i = 0; i < 20; i += 2) {  // pairs swapped: 1,0,3,2,... across the wrap
    order.push_back(start + i + 1);
    order.push_back(start + i);
  }
  d.push(start - 1, 0, 0);  // establish the head and both paths
  d.push(start - 1, 1, 0);  // (a duplicate of a delivered number is discarded)
  d.take();
  for (std::uint32_t s : order) d.push(s, s % 2 ? 1 : 0, kMs);
  std::vector<int> expected;
  for (std::uint32_t i = 0; i < 20; ++i) expected.push_back(static_cast<int>(start + i));
  CHECK(d.take() == expected);
  CHECK(d.r.held() == 0);
  CHECK(d.r.stats().lost == 0);
  CHECK(d.r.stats().resyncs == 0);
}

TEST_CASE("a peer restart (numbers back to 0 after 1,000,000) resyncs and keeps delivering") {
  const std::uint64_t max_delay = 50 * kMs;
  Driver d(64, max_delay, 2);
  std::uint64_t now = 0;
  for (std::uint32_t s = 999'900; s <= 1'000'000; ++s) d.push(s, static_cast<int>(s % 2), now += 10'000);
  d.take();
  // The peer restarts. Its numbers begin at 0 again, still spread over both paths.
  d.push(0, 0, now += 10'000);
  CHECK(d.take() == std::vector<int>{0});
  CHECK(d.r.stats().resyncs == 1);
  // After the restart, the two paths still hold each other's gaps back: 2 waits for 1.
  d.push(2, 0, now += 10'000);
  CHECK(d.take().empty());
  d.push(1, 1, now += 10'000);
  CHECK(d.take() == std::vector<int>{1, 2});
  for (std::uint32_t s = 3; s < 1000; ++s) d.push(s, static_cast<int>(s % 2), now += 10'000);
  CHECK(d.take().size() == 997);
  CHECK(d.r.stats().resyncs == 1);
  CHECK(d.r.stats().late == 0);
  CHECK(d.r.held() == 0);
}

TEST_CASE("a single stale number far ahead or far behind does not black-hole later packets") {
  for (const std::int64_t offset : {std::int64_t{1} << 20, -(std::int64_t{1} << 20), std::int64_t{1} << 31,
                                    std::int64_t{200}, std::int64_t{-200}}) {
    INFO("offset " << offset);
    Driver d(64, 50 * kMs, 2);
    std::uint64_t now = 0;
    for (std::uint32_t s = 5000; s < 5100; ++s) d.push(s, 0, now += 1000);
    d.take();
    d.r.push(static_cast<std::uint32_t>(5100 + offset), 1, now += 1000, -1, d.sink);
    d.take();
    // Real traffic goes on: after at most one more resync everything is delivered at once.
    std::vector<int> got;
    for (std::uint32_t s = 5100; s < 5300; ++s) {
      d.push(s, 0, now += 1000);
      for (int i : d.take()) got.push_back(i);
    }
    REQUIRE(got.size() >= 199);
    CHECK(got.back() == 5299);
    CHECK(d.r.held() == 0);
    CHECK(d.r.stats().resyncs <= 2);
  }
}

TEST_CASE("a duplicate of a held packet is discarded and counted") {
  Driver d(64, 50 * kMs, 2);
  d.push(0, 0, 0);
  d.push(1, 1, 0);
  d.push(3, 0, 1);
  d.push(3, 0, 2);
  CHECK(d.sink.discarded == std::vector<int>{3});
  CHECK(d.r.stats().duplicate == 1);
  d.push(2, 1, 3);
  CHECK(d.take() == std::vector<int>{0, 1, 2, 3});
  // A copy of something already delivered is behind the head: discarded too.
  d.push(2, 1, 4);
  CHECK(d.take().empty());
  CHECK(d.r.stats().duplicate == 2);
  CHECK(d.r.stats().late == 0);
}

TEST_CASE("a second copy of a delivered packet is discarded, a first late arrival is delivered once") {
  Driver d(64, 50 * kMs, 2);
  d.push(0, 0, 0);
  d.push(0, 1, 0);   // path 1 seen; second copy of 0
  d.push(2, 0, 1);   // 1 missing
  d.push(3, 1, 1);   // both paths past 1: lost early, 2 and 3 delivered
  CHECK(d.take() == std::vector<int>{0, 2, 3});
  d.push(1, 1, 2);   // the lost one arrives after all: late, delivered
  d.push(1, 0, 3);   // its reinjected copy: discarded
  d.push(3, 0, 4);   // a copy of an in-order one: discarded
  CHECK(d.take() == std::vector<int>{1});
  CHECK(d.r.stats().late == 1);
  CHECK(d.r.stats().duplicate == 3);
  CHECK(d.sink.discarded == std::vector<int>{0, 1, 3});
}

TEST_CASE("a packet too far ahead pushes the head up and delivers what became deliverable") {
  // Window 4: held numbers must stay within next..next+3. 5 arrives while 1 is missing and 2
  // is held: 1 is given up, and 2 is then at the head and must come out at once -- not sit
  // there until max_delay.
  Driver d(4, 50 * kMs, 2);
  d.push(0, 1, 0);  // path 1 active, behind: no early loss detection
  d.push(2, 0, 1);
  CHECK(d.take() == std::vector<int>{0});
  d.push(5, 0, 2);
  CHECK(d.take() == std::vector<int>{2});
  CHECK(d.r.held() == 1);
  CHECK(d.r.next_deadline(2) == 2 + 50 * kMs);  // the deadline of 5, the only held packet
  CHECK(d.r.stats().lost == 1);
  d.push(3, 1, 3);
  d.push(4, 1, 4);
  CHECK(d.take() == std::vector<int>{3, 4, 5});
  CHECK(d.r.stats().timeouts == 0);
  CHECK(d.r.held() == 0);
}

TEST_CASE("flush delivers everything held, in order") {
  Driver d(64, 50 * kMs, 2);
  d.push(10, 0, 0);
  d.push(11, 1, 0);
  d.push(14, 0, 1);
  d.push(13, 0, 1);
  d.push(17, 0, 1);
  d.take();
  d.r.flush(d.sink);
  CHECK(d.take() == std::vector<int>{13, 14, 17});
  CHECK(d.r.held() == 0);
  CHECK(d.r.stats().lost == 3);  // 12, 15, 16
}

TEST_CASE("remap_paths keeps what kept paths delivered and ignores a new path until it delivers") {
  Reorder<int> r(64, 100 * kMs, 2);
  Sink sink;
  r.push(0, 1, 0, 0, sink);  // path 1 has delivered 0
  r.push(2, 0, 0, 2, sink);  // path 0 is past 1; path 1 may still bring it
  REQUIRE(r.held() == 1);
  r.push(1, 1, 0, 1, sink);  // path 1 delivers 1: everything in order now
  REQUIRE(sink.delivered == std::vector<int>{0, 1, 2});
  // Old path 1 becomes local 0, a new path takes local 1, old path 0 is gone.
  r.remap_paths({1, -1}, 0);
  REQUIRE(r.path_count() == 2);
  // Gap at 3: old path 1 (now 0) delivers 5 -- it is the only path that has delivered
  // anything (and the stage's cold start is long over), so the gap is known lost at once;
  // the new path does not hold it back.
  r.push(5, 0, 200 * kMs, 5, sink);
  CHECK(sink.delivered == std::vector<int>{0, 1, 2, 5});
  CHECK(r.stats().lost == 2);
  // The new path delivers 7 while kept path 0 is at 5: gap 6 waits (path 0 may still carry it).
  r.push(7, 1, 201 * kMs, 7, sink);
  CHECK(r.held() == 1);
  r.push(6, 0, 202 * kMs, 6, sink);
  CHECK(sink.delivered == std::vector<int>{0, 1, 2, 5, 6, 7});
}

TEST_CASE("for_each_held visits every held item and may replace it") {
  Reorder<int> r(64, 100 * kMs, 2);
  Sink sink;
  r.push(0, 0, 0, 0, sink);
  r.push(1, 1, 0, 1, sink);
  r.push(4, 0, 0, 4, sink);  // path 1 (at 1) may still bring 2 and 3: held
  r.push(3, 0, 0, 3, sink);
  REQUIRE(r.held() == 2);
  int visited = 0;
  r.for_each_held([&](int& item) {
    ++visited;
    item += 100;
  });
  CHECK(visited == 2);
  r.flush(sink);
  CHECK(sink.delivered == std::vector<int>{0, 1, 103, 104});
}

TEST_CASE("cold start: a path that has not delivered yet holds gaps back for max_delay") {
  Reorder<int> r(64, 100 * kMs, 2);
  Sink sink;
  r.push(0, 0, 0, 0, sink);
  r.push(2, 0, 1 * kMs, 2, sink);  // path 1 has said nothing yet: it may bring 1
  CHECK(r.held() == 1);
  r.push(1, 1, 2 * kMs, 1, sink);
  CHECK(sink.delivered == std::vector<int>{0, 1, 2});
  CHECK(r.stats().lost == 0);
  CHECK(r.stats().late == 0);

  // A path that stays silent past the first max_delay stops counting.
  Reorder<int> q(64, 100 * kMs, 2);
  Sink s2;
  q.push(0, 0, 0, 0, s2);
  q.push(2, 0, 50 * kMs, 2, s2);
  CHECK(q.held() == 1);
  q.push(3, 0, 120 * kMs, 3, s2);  // cold start over: path 1 is idle, 1 is lost
  CHECK(s2.delivered == std::vector<int>{0, 2, 3});
  CHECK(q.stats().lost == 1);
}

TEST_CASE("idle resume: after the whole connection was silent, every path counts again") {
  Reorder<int> r(64, 100 * kMs, 2);
  Sink sink;
  r.push(0, 0, 0, 0, sink);
  r.push(1, 1, 0, 1, sink);
  // 500 ms of silence on both paths, then path 0's packet overtakes path 1's.
  r.push(3, 0, 500 * kMs, 3, sink);
  CHECK(r.held() == 1);  // path 1 was idle only because everything was: it may bring 2
  r.push(2, 1, 501 * kMs, 2, sink);
  CHECK(sink.delivered == std::vector<int>{0, 1, 2, 3});
  CHECK(r.stats().lost == 0);

  // Whereas a path silent while the other kept delivering is idle: gaps do not wait for it.
  Reorder<int> q(64, 100 * kMs, 2);
  Sink s2;
  q.push(0, 0, 0, 0, s2);
  q.push(1, 1, 0, 1, s2);
  for (std::uint32_t k = 2; k < 50; ++k) q.push(k, 0, k * 5 * kMs, static_cast<int>(k), s2);
  q.push(51, 0, 250 * kMs, 51, s2);  // 50 missing; path 1 silent for 250 ms: known lost
  CHECK(q.held() == 0);
  CHECK(q.stats().lost == 1);
}

TEST_CASE("a path added by remap_paths gets the cold start rule from then on") {
  Reorder<int> r(64, 100 * kMs, 1);
  Sink sink;
  for (std::uint32_t k = 0; k < 3; ++k) r.push(k, 0, 0, static_cast<int>(k), sink);
  r.remap_paths({0, -1}, 1000 * kMs);  // a second path joins at t = 1 s
  r.push(4, 0, 1000 * kMs, 4, sink);   // 3 may come on the new path: held
  CHECK(r.held() == 1);
  r.push(3, 1, 1001 * kMs, 3, sink);
  CHECK(sink.delivered == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(r.stats().lost == 0);
  // After its cold start, a new path that never delivered no longer holds gaps back.
  r.remap_paths({0, 1, -1}, 1001 * kMs);
  r.push(6, 0, 1200 * kMs, 6, sink);  // path 1 is at 3 (active), path 2 cold start over
  CHECK(r.held() == 1);               // held for path 1
  r.push(7, 1, 1201 * kMs, 7, sink);  // path 1 passes 5: lost, path 2 does not count
  CHECK(r.held() == 0);
  CHECK(r.stats().lost == 1);
}

TEST_CASE("an idle path that lagged before holds a gap back for its lag, not for max_delay") {
  const std::uint64_t max_delay = 100 * kMs;
  const auto start = [&](Driver& d) {
    d.push(0, 0, 0);
    d.push(1, 1, 0);
    d.push(3, 0, 1 * kMs);
    d.push(2, 1, 11 * kMs);  // path 1 filled the gap 10 ms after 3 arrived: lag 10 ms
    CHECK(d.r.lag(1, 11 * kMs) == 10 * kMs);
    CHECK(d.r.lag(0, 11 * kMs) == 0);
    for (std::uint32_t s = 4; s <= 10; ++s) d.push(s, 0, (20 + s * 30) * kMs);
    d.take();
    d.push(12, 0, 300 * kMs);  // 11 missing; path 1 idle since 11 ms but it lags
    CHECK(d.take().empty());
    CHECK(d.r.next_deadline(300 * kMs) == 300 * kMs + 10 * kMs * 5 / 4);  // 5/4 of the lag
  };
  SECTION("the slow path brings the gap within its lag: nothing lost, nothing late") {
    Driver d(64, max_delay, 2);
    start(d);
    CHECK(d.r.expire(312 * kMs, d.sink) == 312'500'000);
    d.push(11, 1, 305 * kMs);
    CHECK(d.take() == std::vector<int>{11, 12});
    CHECK(d.r.stats().lost == 0);
    CHECK(d.r.stats().late == 0);
  }
  SECTION("it does not: the gap is lost after the lag, without a timeout") {
    Driver d(64, max_delay, 2);
    start(d);
    CHECK(d.r.expire(312'500'000, d.sink) == kNever);
    CHECK(d.take() == std::vector<int>{12});
    CHECK(d.r.stats().lost == 1);
    CHECK(d.r.stats().timeouts == 0);
  }
}

TEST_CASE("a late packet teaches its path a lag: the next gap waits for it") {
  const std::uint64_t max_delay = 100 * kMs;
  Driver d(64, max_delay, 2);
  d.push(0, 1, 0);
  for (std::uint32_t s = 1; s <= 5; ++s) d.push(s, 0, s * 40 * kMs);  // path 1 goes idle
  d.push(7, 0, 210 * kMs);  // 6 is lost at once: path 1 is idle and has no lag yet
  CHECK(d.r.stats().lost == 1);
  d.push(6, 1, 217 * kMs);  // ... and comes 7 ms after 7: late
  CHECK(d.r.stats().late == 1);
  CHECK(d.r.lag(1, 217 * kMs) == 7 * kMs);
  d.take();
  for (std::uint32_t s = 8; s <= 12; ++s) d.push(s, 0, (200 + s * 40) * kMs);
  d.push(14, 0, 700 * kMs);  // path 1 idle again: 13 waits 5/4 of its 7 ms
  CHECK(d.r.next_deadline(700 * kMs) == 700 * kMs + 7 * kMs * 5 / 4);
  d.push(13, 1, 704 * kMs);
  CHECK(d.r.stats().late == 1);
  CHECK(d.r.stats().lost == 1);
  CHECK(d.take() == std::vector<int>{8, 9, 10, 11, 12, 13, 14});
  // The lag outlives busy spells of other paths but not 10-20 s of the path's own silence.
  CHECK(d.r.lag(1, 9'999 * kMs) == 7 * kMs);
  CHECK(d.r.lag(1, 19'999 * kMs) == 7 * kMs);
  CHECK(d.r.lag(1, 20'000 * kMs) == 0);
}

TEST_CASE("a lag floor makes gaps wait for a path that has not delivered yet; its death ends it") {
  const std::uint64_t max_delay = 100 * kMs;
  Driver d(64, max_delay, 2);
  d.r.set_lag_floor(1, 20 * kMs);  // e.g. half its RTT above path 0's
  d.push(0, 0, 0);
  d.push(2, 0, 200 * kMs);  // path 1 never delivered and its cold start is over
  CHECK(d.take() == std::vector<int>{0});
  CHECK(d.r.next_deadline(200 * kMs) == 225 * kMs);
  d.push(1, 1, 215 * kMs);  // its first packet, 15 ms behind 2
  CHECK(d.take() == std::vector<int>{1, 2});
  CHECK(d.r.stats().lost == 0);
  for (std::uint32_t s = 3; s <= 10; ++s) d.push(s, 0, (200 + s * 20) * kMs);  // path 1 idles
  d.take();
  d.push(12, 0, 400 * kMs);
  CHECK(d.r.next_deadline(400 * kMs) == 425 * kMs);
  d.r.path_died(1, 401 * kMs, 0, d.sink);  // path 1 died: 11 is not coming on it
  CHECK(d.r.held() == 0);
  CHECK(d.take() == std::vector<int>{12});
  CHECK(d.r.stats().lost == 1);
  CHECK(d.r.stats().timeouts == 0);
}

TEST_CASE("a dead path stops holding gaps back: they wait its hold (reinjections), then go") {
  const std::uint64_t max_delay = 200 * kMs;
  Driver d(64, max_delay, 2);
  d.push(0, 0, 0);
  d.push(1, 1, 0);
  d.push(3, 0, 1 * kMs);  // 2 was on path 1, which is cut now
  for (std::uint32_t s = 4; s <= 20; ++s) d.push(s, 0, s * kMs);
  CHECK(d.take() == std::vector<int>{0, 1});
  CHECK(d.r.next_deadline(60 * kMs) == 201 * kMs);  // path 1 active and behind: max_delay
  d.r.path_died(1, 70 * kMs, 40 * kMs, d.sink);  // signalling: path 1 is down; hold 40 ms
  CHECK(d.take().empty());
  CHECK(d.r.next_deadline(70 * kMs) == 110 * kMs);
  SECTION("the reinjected copy arrives on path 0 within the hold") {
    d.push(2, 0, 100 * kMs);
    CHECK(d.take().size() == 19);
    CHECK(d.r.stats().lost == 0);
  }
  SECTION("nothing comes: the gap is lost at the end of the hold, not at max_delay") {
    CHECK(d.r.expire(109 * kMs, d.sink) == 110 * kMs);
    CHECK(d.r.expire(110 * kMs, d.sink) == kNever);
    CHECK(d.take().size() == 18);
    CHECK(d.r.stats().lost == 1);
    CHECK(d.r.stats().timeouts == 0);
  }
  SECTION("a packet on the path revives it") {
    d.push(21, 1, 80 * kMs);  // (path 1 is past 2 now: FIFO says 2 is lost)
    CHECK(d.take().size() == 19);
    d.push(23, 0, 81 * kMs);  // a new gap: path 1 is active and behind it again
    CHECK(d.r.next_deadline(81 * kMs) == 281 * kMs);
  }
}

// ---- repair (set_repair): missing numbers are asked for again --------------------------------

namespace {
struct NackSink : Sink {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> nacks;  // (first, count)
  std::vector<int> attempts;                                   // per entry of nacks
  void nack(std::uint32_t first, std::uint32_t count, std::uint8_t attempt) {
    nacks.emplace_back(first, count);
    attempts.push_back(attempt);
  }
};
using Nacks = std::vector<std::pair<std::uint32_t, std::uint32_t>>;
}  // namespace

TEST_CASE("repair: a gap every path has passed is asked for at once, then waits repair_wait") {
  Reorder<int> r(64, 200 * kMs, 2);
  r.set_repair(2 * kMs, 10 * kMs);
  NackSink sink;
  r.push(0, 0, 0, 0, sink);
  r.push(1, 1, 0, 1, sink);
  r.push(3, 0, 1 * kMs, 3, sink);
  CHECK(sink.nacks.empty());  // path 1 may still bring 2
  r.push(4, 1, 1 * kMs, 4, sink);
  CHECK(sink.nacks == Nacks{{2, 1}});  // both paths passed 2: lost on the way, ask now
  CHECK(r.held() == 2);
  CHECK(r.expire(5 * kMs, sink) == 11 * kMs);  // the repair may take a round trip
  CHECK(r.held() == 2);
  r.push(2, 1, 6 * kMs, 2, sink);  // the repair
  CHECK(sink.delivered == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(r.stats().lost == 0);
  CHECK(r.stats().nacked == 1);
  CHECK(r.stats().nack_filled == 1);
  CHECK(sink.nacks.size() == 1);  // never asked twice

  // No repair comes: asked for a second time repair_wait after the request, given up
  // repair_wait after that, not before.
  Reorder<int> q(64, 200 * kMs, 2);
  q.set_repair(2 * kMs, 10 * kMs);
  NackSink s2;
  q.push(0, 0, 0, 0, s2);
  q.push(1, 1, 0, 1, s2);
  q.push(3, 0, 1 * kMs, 3, s2);
  q.push(4, 1, 1 * kMs, 4, s2);
  q.expire(10 * kMs, s2);
  CHECK(q.held() == 2);
  CHECK(s2.nacks == Nacks{{2, 1}});
  CHECK(q.expire(11 * kMs, s2) == 21 * kMs);
  CHECK(q.held() == 2);
  CHECK(s2.nacks == Nacks{{2, 1}, {2, 1}});
  CHECK(s2.attempts == std::vector<int>{0, 1});
  CHECK(q.stats().nack_retried == 1);
  q.expire(20 * kMs, s2);
  CHECK(q.held() == 2);
  q.expire(21 * kMs, s2);
  CHECK(q.held() == 0);
  CHECK(s2.nacks.size() == 2);  // never a third time
  CHECK(s2.delivered == std::vector<int>{0, 1, 3, 4});
  CHECK(q.stats().lost == 1);
  CHECK(q.stats().timeouts == 0);

  // The second repair comes: delivered in order, nothing lost.
  Reorder<int> t(64, 200 * kMs, 2);
  t.set_repair(2 * kMs, 10 * kMs);
  NackSink s3;
  t.push(0, 0, 0, 0, s3);
  t.push(1, 1, 0, 1, s3);
  t.push(3, 0, 1 * kMs, 3, s3);
  t.push(4, 1, 1 * kMs, 4, s3);
  t.expire(11 * kMs, s3);
  t.push(2, 0, 15 * kMs, 2, s3);
  CHECK(s3.delivered == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(t.stats().lost == 0);
  CHECK(t.stats().nack_filled == 1);
}

TEST_CASE("repair: no second request when the packet behind the gap cannot wait for it") {
  // max_delay 15 ms: the packet behind the gap came at 1 ms and is delivered by 16 ms at the
  // latest; a second request at 11 ms could not be answered in time (repair_wait 10 ms).
  Reorder<int> q(64, 15 * kMs, 2);
  q.set_repair(2 * kMs, 10 * kMs);
  NackSink s;
  q.push(0, 0, 0, 0, s);
  q.push(1, 1, 0, 1, s);
  q.push(3, 0, 1 * kMs, 3, s);
  q.push(4, 1, 1 * kMs, 4, s);
  q.expire(11 * kMs, s);
  CHECK(q.held() == 0);
  CHECK(s.nacks == Nacks{{2, 1}});
  CHECK(q.stats().nack_retried == 0);
  CHECK(q.stats().lost == 1);
}

TEST_CASE("repair: a gap a live path has not passed is asked for after the repair delay") {
  Reorder<int> r(64, 200 * kMs, 2);
  r.set_repair(2 * kMs, 10 * kMs);
  NackSink sink;
  r.push(0, 0, 0, 0, sink);
  r.push(1, 1, 0, 1, sink);
  r.push(3, 0, 10 * kMs, 3, sink);  // path 1 (active, at 1) may bring 2
  CHECK(sink.nacks.empty());
  CHECK(r.expire(11 * kMs, sink) == 12 * kMs);
  CHECK(sink.nacks.empty());
  r.expire(12 * kMs, sink);
  CHECK(sink.nacks == Nacks{{2, 1}});  // silent path 1 (cut?): asked for, still waited for
  CHECK(r.held() == 1);
  r.push(2, 0, 18 * kMs, 2, sink);  // the repair, on path 0
  CHECK(sink.delivered == std::vector<int>{0, 1, 2, 3});
  CHECK(r.stats().lost == 0);
  // It came too late to be path 0's own packet (half repair_wait after the request): it
  // teaches path 0 no lag (without repair the same fill would be an 8 ms lag sample).
  CHECK(r.lag(0, 18 * kMs) == 0);

  // Whereas a fill soon after the request may be the original: a lag sample.
  Reorder<int> q(64, 200 * kMs, 2);
  q.set_repair(2 * kMs, 10 * kMs);
  NackSink s2;
  q.push(0, 0, 0, 0, s2);
  q.push(1, 1, 0, 1, s2);
  q.push(3, 0, 10 * kMs, 3, s2);
  q.expire(12 * kMs, s2);
  q.push(2, 1, 13 * kMs, 2, s2);
  CHECK(q.lag(1, 13 * kMs) == 3 * kMs);
}

TEST_CASE("repair: every run of missing numbers is asked for when its turn comes, not only the head's") {
  // Path 1 was cut silently: its numbers (odd ones) stop coming, path 0 keeps delivering.
  Reorder<int> r(64, 200 * kMs, 2);
  r.set_repair(2 * kMs, 10 * kMs);
  NackSink sink;
  r.push(0, 0, 0, 0, sink);
  r.push(1, 1, 0, 1, sink);
  r.push(2, 0, 1 * kMs, 2, sink);
  r.push(4, 0, 2 * kMs, 4, sink);
  r.push(6, 0, 3 * kMs, 6, sink);
  CHECK(sink.nacks.empty());
  r.push(8, 0, 4 * kMs, 8, sink);
  CHECK(sink.nacks == Nacks{{3, 1}});  // 4 came at 2 ms: 3 is due at 4 ms
  const std::uint64_t next = r.expire(5 * kMs, sink);
  // 3 and 5 are due (their next packets came at 2 and 3 ms); 7 is due at 6 ms.
  CHECK(sink.nacks == Nacks{{3, 1}, {5, 1}});
  CHECK(next == 6 * kMs);
  // Repairs, on path 0, a round trip later; pushing also asks for 7 (due).
  r.push(3, 0, 11 * kMs, 3, sink);
  CHECK(sink.nacks == Nacks{{3, 1}, {5, 1}, {7, 1}});
  r.push(5, 0, 11 * kMs, 5, sink);
  CHECK(sink.delivered == std::vector<int>{0, 1, 2, 3, 4, 5, 6});
  r.expire(11 * kMs, sink);
  CHECK(sink.nacks == Nacks{{3, 1}, {5, 1}, {7, 1}});
  CHECK(r.stats().nacked == 3);
  CHECK(r.stats().lost == 0);
}

TEST_CASE("repair off: nothing is ever asked for") {
  Reorder<int> r(64, 50 * kMs, 2);
  NackSink sink;
  r.push(0, 0, 0, 0, sink);
  r.push(1, 1, 0, 1, sink);
  r.push(3, 0, 1 * kMs, 3, sink);
  r.push(4, 1, 1 * kMs, 4, sink);
  r.expire(100 * kMs, sink);
  CHECK(sink.nacks.empty());
  CHECK(r.stats().lost == 1);
  CHECK(r.stats().nacked == 0);
}

TEST_CASE("after a peer restart, numbers behind the old head are a new stream, not duplicates") {
  Driver d(64, 100 * kMs, 1);
  for (std::uint32_t s = 1000; s < 1040; ++s) d.push(s, 0, 1 * kMs);
  REQUIRE(d.take().size() == 40);
  // Without the restart report, the new instance's first numbers (just behind the old head,
  // within the window) would be taken for duplicates of delivered ones.
  Driver control(64, 100 * kMs, 1);
  for (std::uint32_t s = 1000; s < 1040; ++s) control.push(s, 0, 1 * kMs);
  control.take();
  for (std::uint32_t s = 1000; s < 1010; ++s) control.push(s, 0, 2 * kMs);
  CHECK(control.take().empty());
  CHECK(control.r.stats().duplicate == 10);

  d.r.peer_restarted(2 * kMs);
  for (std::uint32_t s = 1000; s < 1010; ++s) d.push(s, 0, 2 * kMs);
  const std::vector<int> got = d.take();
  REQUIRE(got.size() == 10);
  CHECK(got.front() == 1000);
  CHECK(got.back() == 1009);
  CHECK(d.r.stats().duplicate == 0);
  CHECK(d.r.stats().resyncs == 1);
  // Only the next packet restarts the sequence; later ones are ordinary again.
  d.push(1005, 0, 3 * kMs);
  CHECK(d.take().empty());
  CHECK(d.r.stats().duplicate == 1);
}

TEST_CASE("a peer restart reported after the stage already resynced on a jump changes nothing") {
  Driver d(64, 100 * kMs, 1);
  for (std::uint32_t s = 1000; s < 1010; ++s) d.push(s, 0, 1 * kMs);
  d.push(900000, 0, 2 * kMs);  // the restarted peer's random first number: a jump
  d.push(900001, 0, 2 * kMs);
  REQUIRE(d.take().size() == 12);
  REQUIRE(d.r.stats().resyncs == 1);
  d.r.peer_restarted(500 * kMs);  // the control plane's report comes later
  d.push(900001, 0, 600 * kMs);   // a second copy (repair) is still a duplicate
  CHECK(d.take().empty());
  CHECK(d.r.stats().duplicate == 1);
  CHECK(d.r.stats().resyncs == 1);
}
