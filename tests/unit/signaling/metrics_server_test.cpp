// Unit tests for the metrics endpoint (signaling/metrics_server.*, signaling/http_request.*):
// its address option, its request parser, and a real scrape over loopback TCP.
#include "signaling/http_request.h"
#include "signaling/metrics_server.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <thread>

using mpt::signaling::HttpRequest;
using mpt::signaling::parse_http_request;
using mpt::signaling::parse_listen_address;

TEST_CASE("metrics address: a bare port is loopback; v4, [v6] and bad forms") {
  std::string err;
  auto a = parse_listen_address("9474", err);
  REQUIRE(a);
  CHECK(a->address().to_string() == "127.0.0.1");
  CHECK(a->port() == 9474);
  a = parse_listen_address("0.0.0.0:80", err);
  REQUIRE(a);
  CHECK(a->address().to_string() == "0.0.0.0");
  a = parse_listen_address("[::1]:9474", err);
  REQUIRE(a);
  CHECK(a->address().is_v6());
  for (const char* bad : {"", "0", "65536", "x:1", "1.2.3.4:", "1.2.3.4:9x", "[::1]9474",
                          "localhost:9474", "-1"}) {
    INFO(bad);
    err.clear();
    CHECK_FALSE(parse_listen_address(bad, err));
    CHECK_FALSE(err.empty());
  }
}

TEST_CASE("http request: request line and header end") {
  auto r = parse_http_request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(r.result == HttpRequest::Result::kOk);
  CHECK(r.method == "GET");
  CHECK(r.target == "/metrics");
  r = parse_http_request("GET /metrics?x=1 HTTP/1.0\n\n");
  REQUIRE(r.result == HttpRequest::Result::kOk);
  CHECK(r.target == "/metrics");
  CHECK(parse_http_request("GET /metrics HTTP/1.1\r\nHost: x\r\n").result ==
        HttpRequest::Result::kIncomplete);
  for (const char* bad : {"GET /metrics\r\n\r\n", "GET  HTTP/1.1\r\n\r\n", "get / HTTP/1.1\r\n\r\n",
                          "GET / HTTP/2\r\n\r\n", " / HTTP/1.1\r\n\r\n", "\r\n\r\n",
                          "GET /\x01 HTTP/1.1\r\n\r\n"}) {
    INFO(bad);
    CHECK(parse_http_request(bad).result == HttpRequest::Result::kBad);
  }
}

namespace {
std::string fetch(unsigned short port, const std::string& request) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  boost::asio::write(s, boost::asio::buffer(request));
  std::string out;
  boost::system::error_code ec;
  boost::asio::read(s, boost::asio::dynamic_buffer(out), ec);
  return out;
}
}  // namespace

TEST_CASE("metrics server: GET /metrics answers the handler's text; others 404/405/400") {
  boost::asio::io_context io;
  int calls = 0;
  mpt::signaling::MetricsServer server(
      io, {boost::asio::ip::make_address("127.0.0.1"), 0}, [&] {
        ++calls;
        return std::string("mpt_x 1\n");
      });
  const unsigned short port = server.local_endpoint().port();
  std::string ok, missing, post, bad;
  std::thread client([&] {
    ok = fetch(port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    missing = fetch(port, "GET / HTTP/1.1\r\n\r\n");
    post = fetch(port, "POST /metrics HTTP/1.1\r\n\r\n");
    bad = fetch(port, "hello\r\n\r\n");
    io.stop();
  });
  io.run();
  client.join();
  CHECK(ok.rfind("HTTP/1.0 200 OK\r\n", 0) == 0);
  CHECK(ok.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
  CHECK(ok.substr(ok.size() - 8) == "mpt_x 1\n");
  CHECK(missing.rfind("HTTP/1.0 404", 0) == 0);
  CHECK(post.rfind("HTTP/1.0 405", 0) == 0);
  CHECK(bad.rfind("HTTP/1.0 400", 0) == 0);
  CHECK(calls == 1);
}
