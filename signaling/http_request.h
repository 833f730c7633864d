// The request line and header end of an HTTP/1.x request, as the metrics endpoint reads it
// (network input: fuzzed by tests/fuzz/http_request_fuzz.cpp).
#pragma once

#include <string_view>

namespace mpt::signaling {

struct HttpRequest {
  enum class Result {
    kIncomplete,  // no blank line yet: read more (within the size bound)
    kOk,
    kBad,         // not an HTTP/1.x request line
  };
  Result result = Result::kIncomplete;
  std::string_view method;  // views into the parsed text
  std::string_view target;  // path, without the query string
};

// Parses `head`: the bytes received so far. kOk once the header's blank line arrived and the
// first line is METHOD SP TARGET SP HTTP/1.x.
[[nodiscard]] HttpRequest parse_http_request(std::string_view head);

}  // namespace mpt::signaling
