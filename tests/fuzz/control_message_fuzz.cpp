// libFuzzer target for the control message codec and the replay window (signaling/messages.*),
// which run on raw network input.
//
// Checks, with a hard trap on violation (sanitizers catch memory errors on their own):
//  - decode() with a key ("fuzz-psk", which the seed corpus is signed with) and without one
//    returns a defined error; both agree up to the MAC: what passes with the key passes
//    without it, and what fails without the key fails the same way (or on the MAC) with it;
//  - an accepted message has exactly the size its type demands, re-encodes to the same
//    header and body bytes (except a status body's three reserved bytes, which decode
//    ignores) and the same MAC (zeros without a key, the input's with one when the reserved
//    bytes are zero), and the re-encoded message decodes to the same fields;
//  - ReplayWindow agrees with a naive model (a set of every counter accepted and the highest
//    one) on the counters of the accepted messages and on two counter streams read from the
//    input: raw 64-bit counters, and small signed steps from a 64-bit start (which reaches
//    the window edges and the top of the counter range).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <set>
#include <span>

#include "signaling/messages.h"

namespace {

using namespace mpt::signaling;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Accept iff not the reserved top value, and newer than everything, or inside the window
// (within 128 of the highest) and not seen before.
class ModelWindow {
 public:
  bool check_and_update(std::uint64_t c) {
    if (c == ~std::uint64_t{0}) return false;
    if (any_ && c <= max_ && (max_ - c >= ReplayWindow::kWindow || seen_.count(c))) return false;
    seen_.insert(c);
    if (!any_ || c > max_) max_ = c;
    any_ = true;
    return true;
  }

 private:
  std::set<std::uint64_t> seen_;
  std::uint64_t max_ = 0;
  bool any_ = false;
};

struct Windows {
  ReplayWindow real;
  ModelWindow model;
  void feed(std::uint64_t c) { check(real.check_and_update(c) == model.check_and_update(c)); }
};

// Field-by-field equality is Message::operator== (defaulted).
bool same(const Message& a, const Message& b) { return a == b; }

// Re-encodes an accepted message and compares it with the input.
void check_accepted(std::span<const std::uint8_t> in, const ControlAuth& auth, const Message& m) {
  check(in.size() >= kHeaderSize + kMacSize);
  const std::size_t body = (std::size_t{in[2]} << 8) | in[3];
  check(body <= kMaxBody && in.size() == kHeaderSize + body + kMacSize);
  const int bodies = int{m.hello.has_value()} + int{m.probe.has_value()} +
                     int{m.path_status.has_value()} + int{m.weight.has_value()};
  check(bodies == 1);

  std::uint8_t out[kHeaderSize + kMaxBody + kMacSize];
  const std::size_t n = encode(m, auth, out);
  check(n == in.size());
  const bool status = m.path_status.has_value();
  bool reserved_zero = true;
  for (std::size_t i = 0; i < kHeaderSize + body; ++i) {
    // PATH_STATUS: status, lost path (u16, kept), 1 reserved byte (written as zero).
    if (status && i == kHeaderSize + 3) {
      check(out[i] == 0);
      reserved_zero = reserved_zero && in[i] == 0;
      continue;
    }
    check(out[i] == in[i]);
  }
  const std::uint8_t* mac = out + kHeaderSize + body;
  if (!auth.authenticated()) {
    for (std::size_t i = 0; i < kMacSize; ++i) check(mac[i] == 0);
  } else if (reserved_zero) {
    check(std::memcmp(mac, in.data() + kHeaderSize + body, kMacSize) == 0);
  }

  Message again;
  check(decode({out, n}, auth, again) == ParseError::kOk);
  check(same(m, again));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ControlAuth keyed("fuzz-psk");
  static const ControlAuth unkeyed("");
  const std::span<const std::uint8_t> in(data, size);

  Message with_key, without_key;
  const ParseError e_key = decode(in, keyed, with_key);
  const ParseError e_open = decode(in, unkeyed, without_key);
  check(e_key < ParseError::kCount && e_key != ParseError::kReplay);
  check(e_open < ParseError::kCount && e_open != ParseError::kReplay &&
        e_open != ParseError::kBadMac);
  if (e_key == ParseError::kOk) check(e_open == ParseError::kOk && same(with_key, without_key));
  if (e_open != ParseError::kOk) check(e_key == e_open || e_key == ParseError::kBadMac);

  Windows accepted;
  if (e_key == ParseError::kOk) {
    check_accepted(in, keyed, with_key);
    accepted.feed(with_key.header.counter);
  }
  if (e_open == ParseError::kOk) {
    check_accepted(in, unkeyed, without_key);
    accepted.feed(without_key.header.counter);
  }

  // Raw 64-bit counters.
  Windows raw;
  for (std::size_t i = 0; i + 8 <= size; i += 8) {
    std::uint64_t c = 0;
    for (std::size_t b = 0; b < 8; ++b) c = (c << 8) | data[i + b];
    raw.feed(c);
  }
  // A start and small signed steps (wrapping).
  if (size >= 8) {
    Windows steps;
    std::uint64_t c = 0;
    for (std::size_t b = 0; b < 8; ++b) c = (c << 8) | data[b];
    steps.feed(c);
    for (std::size_t i = 8; i < size; ++i) {
      c += static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int8_t>(data[i])));
      steps.feed(c);
    }
  }
  return 0;
}
