// MetricsServer: `mptd --metrics ADDR:PORT`, Prometheus's scrape endpoint, served by the Asio
// control thread. GET /metrics answers the handler's text (text exposition format 0.0.4);
// anything else gets 404 or 405. One request per connection; at most kMaxClients at once,
// each given kTimeout to send its request (a slow client cannot hold the control thread,
// which never blocks on a socket).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace mpt::signaling {

// "PORT", "ADDR:PORT" or "[V6ADDR]:PORT"; a bare port listens on 127.0.0.1 (loopback unless
// told otherwise). nullopt with `error` set when it is neither.
[[nodiscard]] std::optional<boost::asio::ip::tcp::endpoint> parse_listen_address(
    const std::string& text, std::string& error);

class MetricsServer {
 public:
  using Handler = std::function<std::string()>;
  static constexpr int kMaxClients = 8;
  static constexpr std::chrono::seconds kTimeout{5};

  // Binds and listens; throws std::system_error naming the address on failure.
  MetricsServer(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& at,
                Handler handler);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  [[nodiscard]] boost::asio::ip::tcp::endpoint local_endpoint() const;

 private:
  void accept_next();

  boost::asio::io_context& io_;
  Handler handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<int> clients_;  // connections open now (shared with the sessions)
};

}  // namespace mpt::signaling
