// PathSim: a seeded multipath simulator in virtual time, for testing the scheduler library
// end to end without sockets (after TigerBeetle's packet_simulator.zig).
//
//   sender --(WRR by packets/bytes, or flow pinning)--> path i --> Reorder --> delivered
//
// Each path is a bounded FIFO queue served at the path's rate (overflow = drop, like tbf),
// followed by a one-way delay plus uniform jitter, random loss and outage intervals. Jitter
// never reorders within a path: a packet never arrives before the one sent ahead of it on
// the same path (arrival = max(previous arrival, computed arrival)). Packets that leave the
// queue during an outage are lost; the scheduler is told a path is down at an outage's start
// (plus an optional detection delay) and up again at its end.
//
// Everything is a pure function of SimConfig (seed included): one std::mt19937_64 per path
// and one for the sender, all derived from the seed, and events ordered by (time, insertion).
// Time is in nanoseconds and is passed to Reorder (push at arrival, expire at the deadlines
// it asks for). Header-only; test code only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <queue>
#include <random>
#include <utility>
#include <vector>

#include "scheduler/flow_pinning.h"
#include "scheduler/path_set.h"
#include "scheduler/reorder.h"
#include "scheduler/weighted_round_robin.h"

namespace mpt::sim {

inline constexpr std::uint64_t kUs = 1'000;
inline constexpr std::uint64_t kMs = 1'000'000;
inline constexpr std::uint64_t kNever = ~std::uint64_t{0};

struct Outage {
  std::uint64_t start_ns = 0;
  std::uint64_t end_ns = 0;
  // The scheduler learns about it this long after the start (0 = at once), and that the path
  // is back at end_ns. An outage that ends before it is detected is never reported.
  std::uint64_t detect_ns = 0;
  bool tell_scheduler = true;
};

struct PathConfig {
  double rate_bps = 100e6;
  std::uint64_t delay_ns = 10 * kMs;
  std::uint64_t jitter_ns = 0;         // extra delay, uniform in [0, jitter_ns]
  double loss = 0;                     // probability per packet
  std::size_t queue_packets = 1000;    // packets queued or in service; more = dropped
  std::vector<Outage> outages;
  std::uint32_t weight = 1;            // weight_out given to the scheduler
};

// Packet sizes: uniform over [min, max], or a weighted choice among fixed sizes.
class SizeDistribution {
 public:
  static SizeDistribution fixed(std::uint32_t size) { return uniform(size, size); }
  static SizeDistribution uniform(std::uint32_t min, std::uint32_t max) {
    SizeDistribution d;
    d.min_ = min;
    d.max_ = max;
    return d;
  }
  static SizeDistribution mix(std::vector<std::pair<std::uint32_t, double>> choices) {
    SizeDistribution d;
    d.choices_ = std::move(choices);
    return d;
  }
  std::uint32_t sample(std::mt19937_64& rng) const {
    if (choices_.empty()) return std::uniform_int_distribution<std::uint32_t>(min_, max_)(rng);
    double total = 0;
    for (const auto& c : choices_) total += c.second;
    double r = std::uniform_real_distribution<double>(0, total)(rng);
    for (const auto& c : choices_) {
      if (r < c.second) return c.first;
      r -= c.second;
    }
    return choices_.back().first;
  }

 private:
  std::uint32_t min_ = 1000, max_ = 1000;
  std::vector<std::pair<std::uint32_t, double>> choices_;
};

enum class SchedulerKind { kWrrPackets, kWrrBytes, kFlowPinning };

struct SimConfig {
  std::uint64_t seed = 1;
  std::vector<PathConfig> paths;
  SchedulerKind scheduler = SchedulerKind::kWrrBytes;

  // Sender: `offered_bps` from t = start_ns until duration_ns, constant bit rate (the gap after
  // a packet is its size at the offered rate) or Poisson.
  double offered_bps = 100e6;
  bool poisson = false;
  SizeDistribution sizes = SizeDistribution::uniform(40, 1500);
  std::uint64_t duration_ns = 100 * kMs;
  std::uint32_t flows = 64;       // inner flows (flow pinning hashes them)
  std::uint32_t first_seq = 0;    // GRE sequence number of the first packet

  // Warm-up: this many packets spaced warmup_spacing_ns apart before the load starts, so that
  // the receiver has seen every path (Reorder only knows a path once it delivered something).
  // Spacing 0 = each one arrives before the next leaves: the largest delay + jitter + 1 ms.
  std::uint32_t warmup_packets = 0;
  std::uint64_t warmup_spacing_ns = 0;

  // Receiver.
  std::uint32_t reorder_window = 4096;
  std::uint64_t max_delay_ns = 100 * kMs;
  std::uint64_t early_grace_ns = 0;
};

// The warm-up spacing in effect (see SimConfig::warmup_spacing_ns).
[[nodiscard]] inline std::uint64_t warmup_spacing_ns(const SimConfig& cfg) {
  if (cfg.warmup_spacing_ns) return cfg.warmup_spacing_ns;
  std::uint64_t spacing = kMs;
  for (const PathConfig& p : cfg.paths) spacing = std::max(spacing, p.delay_ns + p.jitter_ns + kMs);
  return spacing;
}

// When the load starts (after the warm-up); it runs until load_start_ns + duration_ns.
[[nodiscard]] inline std::uint64_t load_start_ns(const SimConfig& cfg) {
  return std::uint64_t{cfg.warmup_packets} * warmup_spacing_ns(cfg);
}

enum class Fate : std::uint8_t { kInFlight, kArrived, kLostRandom, kLostOverflow, kLostOutage };

struct SimPacket {
  std::uint32_t seq = 0;
  std::uint32_t size = 0;
  int path = -1;
  std::uint32_t flow = 0;
  std::uint64_t sent_ns = 0;
  std::uint64_t arrived_ns = kNever;
  Fate fate = Fate::kInFlight;
};

struct SimPathStats {
  std::uint64_t packets = 0;  // handed to the path by the scheduler
  std::uint64_t bytes = 0;
  std::uint64_t arrived = 0;
  std::uint64_t lost_random = 0;
  std::uint64_t lost_overflow = 0;
  std::uint64_t lost_outage = 0;
};

struct SimResult {
  std::vector<SimPacket> packets;                 // by id (the order they were sent)
  std::vector<std::uint64_t> delivered;           // ids, in delivery order
  std::vector<std::uint64_t> delivered_ns;        // when each was delivered
  std::vector<std::uint64_t> discarded;           // ids the reorder stage discarded
  std::vector<SimPathStats> path;
  scheduler::ReorderStats reorder;
  std::uint64_t no_path = 0;   // packets the scheduler had no path for (not sent, no number)
  std::uint64_t pushed = 0;    // packets that reached the reorder stage
  std::uint64_t held_at_end = 0;
  std::uint64_t end_ns = 0;

  [[nodiscard]] std::uint64_t lost_on_paths() const {
    std::uint64_t n = 0;
    for (const auto& p : path) n += p.lost_random + p.lost_overflow + p.lost_outage;
    return n;
  }
};

class PathSim {
 public:
  explicit PathSim(SimConfig config)
      : cfg_(std::move(config)),
        sender_rng_(cfg_.seed),
        wrr_(cfg_.scheduler == SchedulerKind::kWrrPackets ? scheduler::WeightedRoundRobin::Unit::kPackets
                                                          : scheduler::WeightedRoundRobin::Unit::kBytes),
        reorder_(cfg_.reorder_window, cfg_.max_delay_ns, static_cast<int>(cfg_.paths.size()),
                 cfg_.early_grace_ns) {
    cfg_.warmup_spacing_ns = warmup_spacing_ns(cfg_);
    std::seed_seq seq{cfg_.seed, std::uint64_t{0x9E3779B97F4A7C15ull}};
    std::vector<std::uint64_t> seeds(cfg_.paths.size());
    seq.generate(seeds.begin(), seeds.end());
    for (std::size_t i = 0; i < cfg_.paths.size(); ++i) {
      paths_.push_back(PathRuntime{std::mt19937_64(seeds[i]), {}, 0, 0});
      states_.push_back(scheduler::PathState{cfg_.paths[i].weight, true});
    }
    result_.path.resize(cfg_.paths.size());
    apply_path_states();
  }

  SimResult run() {
    schedule(0, Kind::kSend, 0);
    for (std::size_t i = 0; i < cfg_.paths.size(); ++i) {
      for (const Outage& o : cfg_.paths[i].outages) {
        // An outage shorter than its detection delay goes unnoticed by the scheduler.
        if (!o.tell_scheduler || o.start_ns + o.detect_ns >= o.end_ns) continue;
        schedule(o.start_ns + o.detect_ns, Kind::kPathDown, i);
        schedule(o.end_ns, Kind::kPathUp, i);
      }
    }
    while (!events_.empty()) {
      const Event e = events_.top();
      events_.pop();
      now_ = e.t;
      switch (e.kind) {
        case Kind::kSend: send(); break;
        case Kind::kArrive: arrive(e.arg); break;
        case Kind::kTimer:
          if (e.t == timer_at_) {
            timer_at_ = kNever;
            (void)reorder_.expire(now_, sink_);
            arm_timer();
          }
          break;
        case Kind::kPathDown:
          states_[e.arg].up = false;
          apply_path_states();
          break;
        case Kind::kPathUp:
          states_[e.arg].up = true;
          apply_path_states();
          break;
      }
    }
    result_.reorder = reorder_.stats();
    result_.held_at_end = reorder_.held();
    result_.end_ns = now_;
    result_.delivered = std::move(sink_.delivered);
    result_.delivered_ns = std::move(sink_.delivered_ns);
    result_.discarded = std::move(sink_.discarded);
    return std::move(result_);
  }

 private:
  enum class Kind : std::uint8_t { kSend, kArrive, kTimer, kPathDown, kPathUp };
  struct Event {
    std::uint64_t t;
    std::uint64_t order;
    Kind kind;
    std::size_t arg;
    bool operator>(const Event& o) const { return t != o.t ? t > o.t : order > o.order; }
  };
  struct PathRuntime {
    std::mt19937_64 rng;
    std::deque<std::uint64_t> departures;  // of the packets queued or in service
    std::uint64_t busy_until = 0;
    std::uint64_t last_arrival = 0;
  };
  struct Sink {
    const std::uint64_t* now = nullptr;
    std::vector<std::uint64_t> delivered, delivered_ns, discarded;
    void deliver(std::uint64_t id) {
      delivered.push_back(id);
      delivered_ns.push_back(*now);
    }
    void discard(std::uint64_t id) { discarded.push_back(id); }
  };

  void schedule(std::uint64_t t, Kind kind, std::size_t arg) {
    events_.push(Event{t, next_order_++, kind, arg});
  }

  void apply_path_states() {
    wrr_.set_paths(states_);
    pinning_.set_paths(states_);
  }

  static std::uint32_t flow_hash(std::uint32_t flow) {
    std::uint64_t x = flow + 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return static_cast<std::uint32_t>(x ^ (x >> 31));
  }

  void send() {
    const bool warmup = sent_ < cfg_.warmup_packets;
    const std::uint64_t load_start = load_start_ns(cfg_);
    if (!warmup && now_ >= load_start + cfg_.duration_ns) return;  // the sender stops
    ++sent_;
    const std::uint32_t size = std::max<std::uint32_t>(1, cfg_.sizes.sample(sender_rng_));
    const std::uint32_t flow =
        std::uniform_int_distribution<std::uint32_t>(0, std::max<std::uint32_t>(cfg_.flows, 1) - 1)(sender_rng_);
    const int path = cfg_.scheduler == SchedulerKind::kFlowPinning ? pinning_.pick(flow_hash(flow)) : wrr_.pick(size);

    // When the next packet leaves the sender.
    std::uint64_t gap;
    if (sent_ < cfg_.warmup_packets) {
      gap = cfg_.warmup_spacing_ns;
    } else if (sent_ == cfg_.warmup_packets && cfg_.warmup_packets > 0) {
      gap = load_start - now_;
    } else {
      const double mean_ns = size * 8.0 / cfg_.offered_bps * 1e9;
      gap = static_cast<std::uint64_t>(
          cfg_.poisson ? std::exponential_distribution<double>(1.0 / mean_ns)(sender_rng_) : mean_ns);
    }
    schedule(now_ + std::max<std::uint64_t>(gap, 1), Kind::kSend, 0);

    if (path < 0) {
      ++result_.no_path;
      return;
    }
    const auto p = static_cast<std::size_t>(path);
    const std::uint64_t id = result_.packets.size();
    SimPacket pkt;
    pkt.seq = next_seq_++;
    pkt.size = size;
    pkt.path = path;
    pkt.flow = flow;
    pkt.sent_ns = now_;
    SimPathStats& ps = result_.path[p];
    ++ps.packets;
    ps.bytes += size;
    transmit(p, pkt);
    if (pkt.fate == Fate::kInFlight) schedule(pkt.arrived_ns, Kind::kArrive, id);
    result_.packets.push_back(pkt);
  }

  // The packet enters path p's queue; decides its fate and arrival time.
  void transmit(std::size_t p, SimPacket& pkt) {
    const PathConfig& pc = cfg_.paths[p];
    PathRuntime& rt = paths_[p];
    SimPathStats& ps = result_.path[p];
    while (!rt.departures.empty() && rt.departures.front() <= now_) rt.departures.pop_front();
    // Draw both random numbers for every packet, so one path's fates do not depend on which
    // of its packets overflowed.
    const bool lose = std::uniform_real_distribution<double>(0, 1)(rt.rng) < pc.loss;
    const std::uint64_t jitter =
        pc.jitter_ns ? std::uniform_int_distribution<std::uint64_t>(0, pc.jitter_ns)(rt.rng) : 0;
    if (rt.departures.size() >= pc.queue_packets) {
      pkt.fate = Fate::kLostOverflow;
      ++ps.lost_overflow;
      return;
    }
    const auto serialization = static_cast<std::uint64_t>(pkt.size * 8.0 / pc.rate_bps * 1e9);
    const std::uint64_t departure = std::max(now_, rt.busy_until) + serialization;
    rt.busy_until = departure;
    rt.departures.push_back(departure);
    for (const Outage& o : pc.outages) {
      if (departure >= o.start_ns && departure < o.end_ns) {
        pkt.fate = Fate::kLostOutage;
        ++ps.lost_outage;
        return;
      }
    }
    if (lose) {
      pkt.fate = Fate::kLostRandom;
      ++ps.lost_random;
      return;
    }
    pkt.arrived_ns = std::max(departure + pc.delay_ns + jitter, rt.last_arrival);  // FIFO
    rt.last_arrival = pkt.arrived_ns;
  }

  void arrive(std::size_t id) {
    SimPacket& pkt = result_.packets[id];
    pkt.fate = Fate::kArrived;
    ++result_.path[static_cast<std::size_t>(pkt.path)].arrived;
    ++result_.pushed;
    reorder_.push(pkt.seq, pkt.path, now_, id, sink_);
    arm_timer();
  }

  // Makes sure expire() runs at the deadline the reorder stage asks for.
  void arm_timer() {
    std::uint64_t d = reorder_.next_deadline(now_);
    if (d == scheduler::Reorder<std::uint64_t>::kNever) d = kNever;
    if (d != kNever) d = std::max(d, now_);
    if (d == timer_at_) return;
    timer_at_ = d;
    if (d != kNever) schedule(d, Kind::kTimer, 0);
  }

  SimConfig cfg_;
  std::mt19937_64 sender_rng_;
  std::vector<PathRuntime> paths_;
  std::vector<scheduler::PathState> states_;
  scheduler::WeightedRoundRobin wrr_;
  scheduler::FlowPinning pinning_;
  scheduler::Reorder<std::uint64_t> reorder_;
  Sink sink_{&now_, {}, {}, {}};
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  std::uint64_t next_order_ = 0;
  std::uint64_t now_ = 0;
  std::uint64_t timer_at_ = kNever;
  std::uint64_t sent_ = 0;
  std::uint32_t next_seq_ = cfg_.first_seq;
  SimResult result_;
};

[[nodiscard]] inline SimResult simulate(const SimConfig& config) { return PathSim(config).run(); }

}  // namespace mpt::sim
