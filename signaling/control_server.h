// ControlServer: the local control socket of mptd, served by the Asio control thread.
//
// A Unix stream socket that only root can use (mode 0600 in a 0700 directory). One request
// per connection: the client writes one line ("status", "status --json"), the server answers
// with the handler's text and closes. Runs entirely on the io_context's thread; the handler
// is called there (control rate, never on the data path).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <functional>
#include <memory>
#include <string>

namespace mpt::signaling {

class ControlServer {
 public:
  using Handler = std::function<std::string(const std::string& request)>;

  // Binds `socket_path`; throws std::system_error if another mptd is listening there or the
  // path cannot be bound. A stale socket file left by a crash is replaced.
  ControlServer(boost::asio::io_context& io, std::string socket_path, Handler handler);
  ~ControlServer();  // unlinks the socket file
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  void accept_next();

  boost::asio::io_context& io_;
  std::string path_;
  Handler handler_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
};

}  // namespace mpt::signaling
