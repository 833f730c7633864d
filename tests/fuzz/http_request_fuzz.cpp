// libFuzzer target: the metrics endpoint's HTTP request parser (signaling/http_request.*).
// Whatever arrives: no crash, and a kOk result's method and target lie inside the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "signaling/http_request.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto r = mpt::signaling::parse_http_request(in);
  if (r.result == mpt::signaling::HttpRequest::Result::kOk) {
    const char* b = in.data();
    const char* e = in.data() + in.size();
    if (r.method.empty() || r.method.data() < b || r.method.data() + r.method.size() > e) std::abort();
    if (r.target.data() < b || r.target.data() + r.target.size() > e) std::abort();
    for (char c : r.method) {
      if (c < 'A' || c > 'Z') std::abort();
    }
  }
  return 0;
}
