// PathSim: a seeded multipath simulator in virtual time, for testing the scheduler library
// end to end without sockets (after TigerBeetle's packet_simulator.zig).
//
//   sender --(WRR by packets/bytes, flow pinning, or auto)--> path i --> Reorder --> delivered
//
// Each path is a bounded FIFO queue served at the path's rate (overflow = drop, like tbf),
// followed by a one-way delay plus uniform jitter, random loss and outage intervals. Jitter
// never reorders within a path: a packet never arrives before the one sent ahead of it on
// the same path (arrival = max(previous arrival, computed arrival)). Packets that leave the
// queue during an outage are lost; the scheduler is told a path is down at an outage's start
// (plus an optional detection delay) and up again at its end.
//
// A path's rate may change during the run (PathConfig::rate_steps): a packet is served at the
// rate in effect when its service starts.
//
// SchedulerKind::kAuto is the adaptive scheduler as the engine runs it: EarliestArrival fed by
// one PathEstimator per path through simulated probes. Every probe_interval_ns, each path's
// sender puts a probe of probe_bytes into the path's FIFO like data (it queues behind data and
// is subject to the path's delay, jitter, FIFO rule and outages, but not to random loss or
// overflow). When it reaches the peer (t_a) the peer reads the data bytes and packets the path
// has delivered so far; the answer comes back after the path's delay (no queue on the way
// back) and feeds the estimator -- on_rtt, on_delivery(peer bytes, t_a) and a loss sample
// (data packets handed to the path between two answered probes against those the peer got) --
// whose rate and one-way delay then go to the scheduler, with a penalty (loss_penalty_ns) while
// its loss is at least PathEstimator::kLossDemote (the control loop's publish_estimate).
// A path that comes back from an outage has its estimator reset, as the control loop does.
// Probes stop when the sender does. The other kinds send no probes.
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

#include "scheduler/earliest_arrival.h"
#include "scheduler/flow_pinning.h"
#include "scheduler/path_estimator.h"
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
  // Capacity changes: from time first (ns) on, the path serves at rate second (bit/s). Sorted
  // by time; before the first step the rate is rate_bps.
  std::vector<std::pair<std::uint64_t, double>> rate_steps;

  // The rate in effect at time t.
  [[nodiscard]] double rate_at(std::uint64_t t) const {
    double r = rate_bps;
    for (const auto& [at, rate] : rate_steps) {
      if (at > t) break;
      r = rate;
    }
    return r;
  }
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

enum class SchedulerKind { kWrrPackets, kWrrBytes, kFlowPinning, kAuto };

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

  // SchedulerKind::kAuto: probes per path (see the top of this file), and the scheduler's
  // backlog bound (0 = EarliestArrival's default).
  std::uint64_t probe_interval_ns = 20 * kMs;
  std::uint32_t probe_bytes = 100;
  std::uint64_t max_backlog_ns = 0;
  // The penalty a path gets while its loss is at least PathEstimator::kLossDemote (the
  // control loop's publish_estimate gives 1 s; 0 = none).
  std::uint64_t loss_penalty_ns = 1000 * kMs;
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

// SchedulerKind::kAuto: one path's estimator after an answered probe.
struct SimEstimate {
  std::uint64_t t_ns = 0;  // when the answer arrived
  int path = -1;
  double rate_bps = 0;      // what the scheduler was given
  double delivery_bps = 0;  // the last delivery-rate sample
  std::uint64_t min_rtt_us = 0;
  std::uint64_t srtt_us = 0;
  std::uint64_t queue_delay_us = 0;
  double loss = 0;
  bool saturated = false;
  std::uint64_t samples = 0;
  std::uint64_t model_backlog_ns = 0;  // the scheduler's backlog for the path at that time
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
  // SchedulerKind::kAuto only.
  std::vector<SimEstimate> estimates;       // after every answered probe, in time order
  std::vector<SimEstimate> final_estimate;  // per path, at the end of the run
  std::uint64_t probes_sent = 0;
  std::uint64_t probes_answered = 0;

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
      // Probes draw their jitter from a generator of their own: the data packets' fates are
      // the same whether probes run or not.
      probe_rngs_.emplace_back(seeds[i] ^ 0xD1B54A32D192ED03ull);
      states_.push_back(scheduler::PathState{cfg_.paths[i].weight, true});
    }
    result_.path.resize(cfg_.paths.size());
    peer_.resize(cfg_.paths.size());
    estimators_.resize(cfg_.paths.size());
    loss_base_.resize(cfg_.paths.size());
    if (cfg_.max_backlog_ns) arrival_.set_max_backlog(cfg_.max_backlog_ns);
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
    if (auto_policy()) {
      // Staggered, as independent control timers would be.
      const std::uint64_t n = cfg_.paths.size();
      for (std::size_t i = 0; i < n; ++i) schedule(cfg_.probe_interval_ns * i / n, Kind::kProbe, i);
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
          if (auto_policy()) estimators_[e.arg].reset();  // the control loop's apply()
          apply_path_states();
          break;
        case Kind::kProbe: send_probe(e.arg); break;
        case Kind::kProbeAtPeer: probe_at_peer(e.arg); break;
        case Kind::kProbeAnswer: probe_answer(e.arg); break;
      }
    }
    result_.reorder = reorder_.stats();
    result_.held_at_end = reorder_.held();
    result_.end_ns = now_;
    result_.delivered = std::move(sink_.delivered);
    result_.delivered_ns = std::move(sink_.delivered_ns);
    result_.discarded = std::move(sink_.discarded);
    if (auto_policy()) {
      for (std::size_t i = 0; i < estimators_.size(); ++i) {
        result_.final_estimate.push_back(snapshot(static_cast<int>(i)));
      }
    }
    return std::move(result_);
  }

 private:
  enum class Kind : std::uint8_t {
    kSend, kArrive, kTimer, kPathDown, kPathUp, kProbe, kProbeAtPeer, kProbeAnswer
  };
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
  // What the peer has received on a path (the engine's per-path rx counters).
  struct PeerCounters {
    std::uint64_t bytes = 0;
    std::uint64_t packets = 0;
  };
  struct Probe {
    std::size_t path = 0;
    std::uint64_t sent_ns = 0;
    std::uint64_t tx_packets = 0;  // data packets handed to the path when it was sent
    std::uint64_t at_peer_ns = 0;
    PeerCounters peer;             // read at the peer on arrival
  };
  // The counters of the last answered probe, for loss samples.
  struct LossBase {
    bool valid = false;
    std::uint64_t tx_packets = 0;
    std::uint64_t peer_packets = 0;
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

  [[nodiscard]] bool auto_policy() const { return cfg_.scheduler == SchedulerKind::kAuto; }

  void apply_path_states() {
    wrr_.set_paths(states_);
    pinning_.set_paths(states_);
    if (auto_policy()) arrival_.set_paths(states_, now_);
  }

  [[nodiscard]] bool in_outage(std::size_t p, std::uint64_t t) const {
    for (const Outage& o : cfg_.paths[p].outages) {
      if (t >= o.start_ns && t < o.end_ns) return true;
    }
    return false;
  }

  [[nodiscard]] SimEstimate snapshot(int path) const {
    const scheduler::PathEstimator& e = estimators_[static_cast<std::size_t>(path)];
    SimEstimate s;
    s.t_ns = now_;
    s.path = path;
    s.rate_bps = e.rate_bps();
    s.delivery_bps = e.last_delivery_bps();
    s.min_rtt_us = e.min_rtt_us();
    s.srtt_us = e.srtt_us();
    s.queue_delay_us = e.queue_delay_us();
    s.loss = e.loss();
    s.saturated = e.saturated();
    s.samples = e.samples();
    s.model_backlog_ns = arrival_.backlog_ns(path, now_);
    return s;
  }

  // A probe enters path p's FIFO behind the data; the next one is due an interval later.
  void send_probe(std::size_t p) {
    if (now_ >= load_start_ns(cfg_) + cfg_.duration_ns) return;  // the sender stopped
    schedule(now_ + std::max<std::uint64_t>(cfg_.probe_interval_ns, 1), Kind::kProbe, p);
    const PathConfig& pc = cfg_.paths[p];
    PathRuntime& rt = paths_[p];
    while (!rt.departures.empty() && rt.departures.front() <= now_) rt.departures.pop_front();
    const std::uint64_t jitter =
        pc.jitter_ns
            ? std::uniform_int_distribution<std::uint64_t>(0, pc.jitter_ns)(probe_rngs_[p])
            : 0;
    ++result_.probes_sent;
    const std::uint64_t start = std::max(now_, rt.busy_until);
    const auto serialization =
        static_cast<std::uint64_t>(cfg_.probe_bytes * 8.0 / pc.rate_at(start) * 1e9);
    const std::uint64_t departure = start + serialization;
    rt.busy_until = departure;
    rt.departures.push_back(departure);
    if (in_outage(p, departure)) return;  // no answer
    const std::uint64_t at_peer = std::max(departure + pc.delay_ns + jitter, rt.last_arrival);
    rt.last_arrival = at_peer;
    probes_.push_back(Probe{p, now_, result_.path[p].packets, at_peer, {}});
    schedule(at_peer, Kind::kProbeAtPeer, probes_.size() - 1);
  }

  // The peer reads its counters for the path and answers; the answer takes the path's delay.
  void probe_at_peer(std::size_t id) {
    Probe& pr = probes_[id];
    pr.peer = peer_[pr.path];
    const std::uint64_t back = now_ + cfg_.paths[pr.path].delay_ns;
    if (in_outage(pr.path, now_) || in_outage(pr.path, back)) return;
    schedule(back, Kind::kProbeAnswer, id);
  }

  // The control loop's kProbeAck handling and publish_estimate, in microseconds.
  void probe_answer(std::size_t id) {
    const Probe& pr = probes_[id];
    const std::size_t p = pr.path;
    scheduler::PathEstimator& e = estimators_[p];
    ++result_.probes_answered;
    const std::uint64_t now_us = now_ / kUs;
    e.on_rtt(now_us, (now_ - pr.sent_ns) / kUs);
    e.on_delivery(now_us, pr.peer.bytes, pr.at_peer_ns / kUs);
    LossBase& base = loss_base_[p];
    if (base.valid && pr.tx_packets >= base.tx_packets && pr.peer.packets >= base.peer_packets) {
      e.on_loss_sample(now_us, pr.tx_packets - base.tx_packets,
                       pr.peer.packets - base.peer_packets);
    }
    base = LossBase{true, pr.tx_packets, pr.peer.packets};
    if (!e.has_rtt()) return;
    // A lossy path is left idle while the others can carry the traffic (publish_estimate).
    const std::uint64_t penalty =
        e.loss() >= scheduler::PathEstimator::kLossDemote ? cfg_.loss_penalty_ns : 0;
    arrival_.set_estimate(static_cast<int>(p), e.rate_bps(), e.one_way_delay_us() * kUs, penalty);
    arrival_.sync_queue(static_cast<int>(p), now_, e.queue_delay_us() * kUs);
    result_.estimates.push_back(snapshot(static_cast<int>(p)));
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
    const int path = cfg_.scheduler == SchedulerKind::kFlowPinning ? pinning_.pick(flow_hash(flow))
                     : auto_policy()                              ? arrival_.pick(now_, size)
                                                                  : wrr_.pick(size);

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
    const std::uint64_t start = std::max(now_, rt.busy_until);
    const auto serialization = static_cast<std::uint64_t>(pkt.size * 8.0 / pc.rate_at(start) * 1e9);
    const std::uint64_t departure = start + serialization;
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
    PeerCounters& peer = peer_[static_cast<std::size_t>(pkt.path)];
    ++peer.packets;
    peer.bytes += pkt.size;
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
  scheduler::EarliestArrival arrival_;
  std::vector<scheduler::PathEstimator> estimators_;
  std::vector<std::mt19937_64> probe_rngs_;
  std::vector<PeerCounters> peer_;
  std::vector<LossBase> loss_base_;
  std::vector<Probe> probes_;
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
