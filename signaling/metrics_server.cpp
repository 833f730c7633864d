#include "signaling/metrics_server.h"

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <system_error>

#include "engine/log.h"
#include "signaling/http_request.h"

namespace mpt::signaling {

using boost::asio::ip::tcp;

std::optional<tcp::endpoint> parse_listen_address(const std::string& text, std::string& error) {
  std::string host = "127.0.0.1";
  std::string port = text;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find("]:");
    if (close == std::string::npos) {
      error = "'" + text + "': expected [IPV6]:PORT";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else if (const std::size_t colon = text.rfind(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 ||
      value > 65535) {
    error = "'" + text + "': the port must be 1..65535";
    return std::nullopt;
  }
  boost::system::error_code bad;
  const auto address = boost::asio::ip::make_address(host, bad);
  if (bad) {
    error = "'" + text + "': '" + host + "' is not an IP address";
    return std::nullopt;
  }
  return tcp::endpoint(address, static_cast<unsigned short>(value));
}

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const MetricsServer::Handler& handler, std::shared_ptr<int> clients)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), handler_(handler),
        clients_(std::move(clients)) {
    ++*clients_;
  }
  ~Session() { --*clients_; }

  void start() {
    auto self = shared_from_this();
    timer_.expires_after(MetricsServer::kTimeout);
    timer_.async_wait([self](boost::system::error_code ec) {
      if (!ec) self->close();
    });
    boost::asio::async_read_until(socket_, request_, "\n\r\n",
                                  [self](boost::system::error_code ec, std::size_t) {
                                    self->on_request(ec);
                                  });
  }

 private:
  void on_request(boost::system::error_code ec) {
    if (ec && ec != boost::asio::error::not_found && ec != boost::asio::error::eof) return close();
    const auto data = request_.data();
    const std::string head(boost::asio::buffers_begin(data), boost::asio::buffers_end(data));
    const HttpRequest r = parse_http_request(head);
    if (r.result != HttpRequest::Result::kOk) {
      reply("400 Bad Request", "text/plain", "bad request\n");
    } else if (r.method != "GET" && r.method != "HEAD") {
      reply("405 Method Not Allowed", "text/plain", "only GET\n");
    } else if (r.target != "/metrics") {
      reply("404 Not Found", "text/plain", "see /metrics\n");
    } else {
      reply("200 OK", "text/plain; version=0.0.4; charset=utf-8",
            r.method == "HEAD" ? std::string() : handler_());
    }
  }

  void reply(const char* status, const char* type, const std::string& body) {
    reply_ = std::string("HTTP/1.0 ") + status + "\r\nContent-Type: " + type +
             "\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\nConnection: close\r\n\r\n" + body;
    auto self = shared_from_this();
    boost::asio::async_write(socket_, boost::asio::buffer(reply_),
                             [self](boost::system::error_code, std::size_t) { self->close(); });
  }

  void close() {
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  boost::asio::steady_timer timer_;
  const MetricsServer::Handler& handler_;
  std::shared_ptr<int> clients_;
  boost::asio::streambuf request_{8192};  // bounded: a longer header is refused
  std::string reply_;
};

}  // namespace

MetricsServer::MetricsServer(boost::asio::io_context& io, const tcp::endpoint& at,
                             Handler handler)
    : io_(io), handler_(std::move(handler)), acceptor_(io), clients_(std::make_shared<int>(0)) {
  boost::system::error_code ec;
  acceptor_.open(at.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(at, ec);
  if (!ec) acceptor_.listen(16, ec);
  if (ec) {
    throw std::system_error(ec.value(), std::generic_category(),
                            "metrics endpoint " + at.address().to_string() + ":" +
                                std::to_string(at.port()));
  }
  accept_next();
}

MetricsServer::~MetricsServer() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

tcp::endpoint MetricsServer::local_endpoint() const { return acceptor_.local_endpoint(); }

void MetricsServer::accept_next() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == boost::asio::error::operation_aborted) return;
    if (!ec) {
      if (*clients_ >= kMaxClients) {
        boost::system::error_code ignored;
        socket.close(ignored);  // over the limit: refused at once
      } else {
        std::make_shared<Session>(std::move(socket), handler_, clients_)->start();
      }
    }
    accept_next();
  });
}

}  // namespace mpt::signaling
