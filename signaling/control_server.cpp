#include "signaling/control_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <istream>
#include <system_error>

namespace mpt::signaling {

using boost::asio::local::stream_protocol;

namespace {

// One accepted connection: read a line, answer, close. Owns itself through shared_ptr.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(stream_protocol::socket socket, const ControlServer::Handler& handler)
      : socket_(std::move(socket)), handler_(handler) {}

  void start() {
    auto self = shared_from_this();
    boost::asio::async_read_until(
        socket_, request_, '\n', [self](boost::system::error_code ec, std::size_t) {
          if (ec && ec != boost::asio::error::eof) return;
          std::istream in(&self->request_);
          std::string line;
          std::getline(in, line);
          self->reply_ = self->handler_(line);
          boost::asio::async_write(self->socket_, boost::asio::buffer(self->reply_),
                                   [self](boost::system::error_code, std::size_t) {
                                     boost::system::error_code ignored;
                                     self->socket_.shutdown(stream_protocol::socket::shutdown_both,
                                                            ignored);
                                   });
        });
  }

 private:
  stream_protocol::socket socket_;
  const ControlServer::Handler& handler_;
  boost::asio::streambuf request_{4096};  // bounded: a longer request is an error
  std::string reply_;
};

}  // namespace

ControlServer::ControlServer(boost::asio::io_context& io, std::string socket_path,
                             Handler handler)
    : io_(io), path_(std::move(socket_path)), handler_(std::move(handler)), acceptor_(io) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(path_).parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    if (fs::create_directories(dir, ec)) ::chmod(dir.c_str(), 0700);
  }
  // Refuse to steal the socket of a running daemon; replace a stale one.
  {
    stream_protocol::socket probe(io_);
    boost::system::error_code ec;
    probe.connect(stream_protocol::endpoint(path_), ec);
    if (!ec) {
      throw std::system_error(EADDRINUSE, std::generic_category(),
                              "control socket " + path_ + " is in use by a running mptd");
    }
    ::unlink(path_.c_str());
  }
  const mode_t old_mask = ::umask(0077);  // socket file created 0600: root only
  boost::system::error_code ec;
  acceptor_.open(stream_protocol(), ec);
  if (!ec) acceptor_.bind(stream_protocol::endpoint(path_), ec);
  ::umask(old_mask);
  if (!ec) acceptor_.listen(16, ec);
  if (ec) {
    throw std::system_error(ec.value(), std::generic_category(), "control socket " + path_);
  }
  accept_next();
}

ControlServer::~ControlServer() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  ::unlink(path_.c_str());
}

void ControlServer::accept_next() {
  acceptor_.async_accept([this](boost::system::error_code ec, stream_protocol::socket socket) {
    if (ec == boost::asio::error::operation_aborted) return;
    if (!ec) std::make_shared<Session>(std::move(socket), handler_)->start();
    accept_next();
  });
}

}  // namespace mpt::signaling
