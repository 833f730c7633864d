#include "signaling/http_request.h"

namespace mpt::signaling {

HttpRequest parse_http_request(std::string_view head) {
  HttpRequest r;
  std::size_t end = head.find("\r\n\r\n");
  if (end == std::string_view::npos) end = head.find("\n\n");  // bare LF: tolerated
  if (end == std::string_view::npos) return r;
  r.result = HttpRequest::Result::kBad;
  std::size_t eol = head.find('\n');
  std::string_view line = head.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return r;
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return r;
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (version != "HTTP/1.0" && version != "HTTP/1.1") return r;
  for (char c : method) {
    if (c < 'A' || c > 'Z') return r;
  }
  for (char c : target) {
    if (c <= ' ' || c == 0x7f) return r;
  }
  if (const std::size_t q = target.find('?'); q != std::string_view::npos) {
    target = target.substr(0, q);
  }
  r.result = HttpRequest::Result::kOk;
  r.method = method;
  r.target = target;
  return r;
}

}  // namespace mpt::signaling
