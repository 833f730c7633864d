// libFuzzer target for the control message drain (signaling/control_intake.*, and what
// ControlLoop::handle feeds from an accepted probe answer: scheduler/path_estimator.*,
// signaling/path_health.*): sequences of control messages from the network, as a path's
// control ring delivers them to the control thread.
//
// A fuzzer cannot forge an HMAC, so most messages are built and signed here from fuzzed
// fields (the key is known to the harness) and interleaved with raw bytes, replays of earlier
// messages and copies with one bit flipped. Input: 1 byte of mode (bit 0: authenticated), then
// records, each a kind byte and its fields:
//   0: raw message, 2-byte length (mod 400) + bytes;
//   1: a signed message, 12 bytes: type, session step (same / next / older / fuzzed),
//      counter step (next / repeat / back / far ahead / fuzzed), path, then body values;
//   2: replay of an earlier signed message (index), optionally with one bit flipped;
//   3: virtual time advances (2 bytes, ms) and the path health ticks.
// Checks, with a hard trap on violation:
//  - ControlIntake agrees with a naive model of its rules (docs/protocol.md; a set of every
//    (session, counter) accepted, the followed session, the highest counter) on every message:
//    error, new session, peer restart, restart count;
//  - no (session, counter) is accepted twice; nothing that fails decode() is accepted;
//  - after accepted probe answers with any values, the estimator's rate stays within
//    [kMinRate, kMaxRate] and finite, loss within [0, 1], the health state valid.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "scheduler/path_estimator.h"
#include "signaling/control_intake.h"
#include "signaling/path_health.h"

namespace {

using namespace mpt::signaling;
using mpt::scheduler::PathEstimator;
using Bytes = std::vector<std::uint8_t>;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

std::uint64_t take64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

// The rules of control_intake.h, written out with a std::set.
class ModelIntake {
 public:
  ControlIntake::Result accept(std::span<const std::uint8_t> in, const ControlAuth& auth,
                               Message& m) {
    ControlIntake::Result r;
    r.error = decode(in, auth, m);
    if (r.error != ParseError::kOk) return r;
    const std::uint64_t s = m.header.session, c = m.header.counter;
    if (session_ && s < *session_) {
      r.error = ParseError::kReplay;
      return r;
    }
    if (!session_ || *session_ != s) {
      r.new_session = true;
      r.peer_restarted = session_.has_value();
      restarts_ += r.peer_restarted;
      session_ = s;
      seen_.clear();
      top_.reset();
    }
    const bool fresh = c != ~std::uint64_t{0} && !seen_.count(c) &&
                       (!top_ || c > *top_ || *top_ - c < ReplayWindow::kWindow);
    if (!fresh) {
      r.error = ParseError::kReplay;
      return r;
    }
    seen_.insert(c);
    if (!top_ || c > *top_) top_ = c;
    return r;
  }
  std::uint64_t restarts() const { return restarts_; }
  const std::optional<std::uint64_t>& session() const { return session_; }

 private:
  std::optional<std::uint64_t> session_;
  std::set<std::uint64_t> seen_;
  std::optional<std::uint64_t> top_;
  std::uint64_t restarts_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const ControlAuth keyed("fuzz-psk");
  static const ControlAuth open("");
  const ControlAuth& auth = (data[0] & 1) ? keyed : open;
  ControlIntake intake;
  ModelIntake model;
  std::set<std::pair<std::uint64_t, std::uint64_t>> accepted;
  std::vector<Bytes> sent;
  std::uint64_t session = 1000, counter = 0, now_us = 5'000'000;
  HealthParams hp;
  hp.probe_interval_us = 20'000;
  PathHealth health(hp, now_us);
  PathEstimator estimator;

  std::size_t i = 1;
  auto feed = [&](const Bytes& msg) {
    Message a, b;
    const ControlIntake::Result r = intake.accept(msg, auth, a);
    const ControlIntake::Result q = model.accept(msg, auth, b);
    check(r.error == q.error && r.new_session == q.new_session &&
          r.peer_restarted == q.peer_restarted);
    check(intake.peer_restarts() == model.restarts() && intake.peer_session() == model.session());
    if (r.error != ParseError::kOk) return;
    check(a == b);
    check(accepted.insert({a.header.session, a.header.counter}).second);
    if (a.header.type == MessageType::kProbeAck && a.probe) {
      const ProbeBody& p = *a.probe;
      if (p.echo_time_us == 0 || p.echo_time_us > now_us) return;  // as ControlLoop::handle
      const std::uint64_t rtt = now_us - p.echo_time_us;
      const std::uint64_t net = rtt > p.echo_delay_us ? rtt - p.echo_delay_us : rtt;
      health.on_probe_ack(now_us, net);
      estimator.on_rtt(now_us, net);
      estimator.on_delivery(now_us, p.data_rx_bytes,
                            p.tx_time_us > p.echo_delay_us ? p.tx_time_us - p.echo_delay_us : 0);
      estimator.on_loss_sample(now_us, p.data_tx_packets % 100000, p.data_rx_packets % 100000);
      health.on_loss_sample(p.data_tx_packets % 100000, p.data_rx_packets % 100000, now_us,
                            estimator.queue_seen());
      health.tick(now_us);
      const double rate = estimator.rate_bps();
      check(std::isfinite(rate) && rate >= PathEstimator::kMinRate && rate <= PathEstimator::kMaxRate);
      check(std::isfinite(estimator.loss()) && estimator.loss() >= 0 && estimator.loss() <= 1);
      check(std::isfinite(health.loss()) && health.loss() >= 0 && health.loss() <= 1);
      check(static_cast<int>(health.state()) <= static_cast<int>(HealthState::kAdminDown));
      (void)estimator.queue_delay_us();
      (void)estimator.min_rtt_us();
      (void)estimator.saturated();
    }
  };

  while (i < size && sent.size() < 4096) {
    const std::uint8_t kind = data[i++] & 3;
    if (kind == 0) {
      if (size - i < 2) break;
      const std::size_t len = std::min<std::size_t>((std::size_t{data[i]} << 8 | data[i + 1]) % 400, size - i - 2);
      i += 2;
      feed(Bytes(data + i, data + i + len));
      i += len;
    } else if (kind == 1) {
      std::uint8_t f[12] = {};
      const std::size_t n = std::min<std::size_t>(12, size - i);
      std::memcpy(f, data + i, n);
      i += n;
      std::uint8_t body[64] = {};
      const std::size_t bn = std::min<std::size_t>(static_cast<std::size_t>(f[5] % 65), size - i);
      std::memcpy(body, data + i, bn);
      i += bn;
      switch (f[1] & 3) {
        case 1: session += 1 + f[2]; counter = 0; break;
        case 2: session -= std::min<std::uint64_t>(session, 1 + f[2]); break;
        case 3: session = take64(body + 56); break;
        default: break;
      }
      switch (f[3] & 7) {
        case 0: case 1: ++counter; break;
        case 2: break;  // the same counter again
        case 3: counter -= std::min<std::uint64_t>(counter, f[4]); break;
        case 4: counter += 100 + f[4]; break;
        case 5: counter = take64(body + 48); break;
        default: counter += 1 + (f[4] & 3); break;
      }
      Message m;
      m.header.type = static_cast<MessageType>(1 + f[0] % 8);
      m.header.session = session;
      m.header.counter = counter;
      m.header.path = f[6];
      m.header.flags = f[7];
      switch (m.header.type) {
        case MessageType::kHello:
        case MessageType::kHelloAck:
          m.hello = HelloBody{static_cast<std::uint32_t>(take64(body) >> 32),
                              static_cast<std::uint32_t>(take64(body + 8))};
          break;
        case MessageType::kProbe:
        case MessageType::kProbeAck: {
          ProbeBody p;
          p.tx_time_us = (f[8] & 1) ? take64(body) : now_us - (f[9] * 1000u);
          p.echo_time_us = (f[8] & 2) ? take64(body + 8) : now_us - (std::uint64_t{f[10]} << 10);
          p.echo_delay_us = static_cast<std::uint32_t>(take64(body + 16));
          p.data_tx_packets = take64(body + 24);
          p.data_rx_packets = take64(body + 32);
          p.data_tx_bytes = take64(body + 40);
          p.data_rx_bytes = (f[8] & 4) ? take64(body + 48) : std::uint64_t{counter} * 1400 * f[11];
          m.probe = p;
          break;
        }
        case MessageType::kPathStatus:
        case MessageType::kPathStatusAck:
          m.path_status = PathStatusBody{static_cast<PathStatus>(f[9] % 3)};
          break;
        default:
          m.weight = WeightBody{static_cast<std::uint32_t>(take64(body))};
          break;
      }
      Bytes out(kHeaderSize + kMaxBody + kMacSize);
      const std::size_t len = encode(m, auth, out);
      check(len > 0);
      out.resize(len);
      sent.push_back(out);
      feed(out);
    } else if (kind == 2) {
      if (sent.empty() || size - i < 3) break;
      Bytes copy = sent[(std::size_t{data[i]} << 8 | data[i + 1]) % sent.size()];
      const std::uint8_t flip = data[i + 2];
      i += 3;
      if (flip & 0x80) copy[(flip & 0x7F) % copy.size()] ^= static_cast<std::uint8_t>(1u << (flip % 8));
      feed(copy);
    } else {
      if (size - i < 2) break;
      now_us += (std::uint64_t{data[i]} << 8 | data[i + 1]) * 1000u;
      i += 2;
      health.tick(now_us);
    }
  }
  return 0;
}
