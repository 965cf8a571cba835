#include "server/http_server.h"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/core.h>

#include <cerrno>
#include <csignal>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_set>

#include "core/error.h"

namespace ponder::server {

void PendingResponse::write(std::string bytes) {
  std::unique_lock lock(mutex_);
  if (finished_) return;
  pending_ += bytes;
  wake(lock);
}

void PendingResponse::finish(HttpResponse response) {
  std::unique_lock lock(mutex_);
  if (finished_) return;
  finished_ = true;
  response_ = std::move(response);
  wake(lock);
}

void PendingResponse::wake(std::unique_lock<std::mutex>& lock) {
  const std::function<void()> waker = waker_;
  lock.unlock();
  if (waker) waker();
}

PendingResponse::Taken PendingResponse::take() {
  std::lock_guard lock(mutex_);
  Taken t;
  t.bytes.swap(pending_);
  t.finished = finished_;
  if (finished_) t.response = response_;
  return t;
}

void PendingResponse::set_waker(std::function<void()> waker) {
  std::unique_lock lock(mutex_);
  waker_ = std::move(waker);
  if (!pending_.empty() || finished_) wake(lock);
}

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::string error_body(std::string_view message) {
  nlohmann::json j = {{"error", {{"message", std::string(message)}, {"type", "invalid_request_error"}, {"param", nullptr}, {"code", nullptr}}}};
  return j.dump();
}

struct Connection {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  bool busy = false;  // a request is being handled (not waiting for the next one)
};

// Watches a connection for the client going away while its response is pending: the socket turns
// readable, and a peek finds the end of the stream or an error. Data (a pipelined request) ends
// the watch without consuming anything.
struct Watch {
  bool active = true;
  bool gone = false;
};

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  Handler handler;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::signal_set signals{io, SIGINT, SIGTERM};
  asio::steady_timer stop_timer{io};
  std::unordered_set<std::shared_ptr<Connection>> connections;
  std::function<void()> on_signal;
  bool signalled = false;
  bool stopping = false;

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(std::shared_ptr<Connection> c);
  asio::awaitable<bool> write_response(Connection& c, const HttpResponse& r, unsigned version, bool keep_alive);
  asio::awaitable<bool> write_pending(Connection& c, PendingResponse& p, unsigned version, bool keep_alive);
  asio::awaitable<void> refuse_body(Connection& c, int status, const std::string& message);
  std::shared_ptr<Watch> watch(Connection& c, std::shared_ptr<asio::steady_timer> wake);
  void wait_signal();
  void close_idle();
};

HttpServer::HttpServer(HttpServerOptions options, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  tcp::resolver resolver(impl_->io);
  beast::error_code ec;
  const auto endpoints = resolver.resolve(impl_->options.host, std::to_string(impl_->options.port), ec);
  PONDER_CHECK(!ec && !endpoints.empty(), "cannot resolve host '{}': {}", impl_->options.host, ec.message());
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  tcp::acceptor& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  PONDER_CHECK(!ec, "cannot listen on {}:{}: {}", impl_->options.host, impl_->options.port, ec.message());
}

HttpServer::~HttpServer() = default;

uint16_t HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

void HttpServer::run(std::function<void()> on_signal) {
  impl_->on_signal = std::move(on_signal);
  impl_->wait_signal();
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  impl_->io.run();
}

void HttpServer::stop(std::chrono::milliseconds grace) {
  asio::post(impl_->io, [impl = impl_.get(), grace] {
    impl->stopping = true;
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->close_idle();
    if (impl->connections.empty()) {
      impl->io.stop();
      return;
    }
    impl->stop_timer.expires_after(grace);
    impl->stop_timer.async_wait([impl](beast::error_code) { impl->io.stop(); });
  });
}

void HttpServer::Impl::wait_signal() {
  signals.async_wait([this](beast::error_code ec, int) {
    if (ec) return;
    if (signalled) {  // a second signal: do not wait for the work in flight
      io.stop();
      return;
    }
    signalled = true;
    beast::error_code ignored;
    acceptor.close(ignored);
    if (on_signal) on_signal();
    wait_signal();
  });
}

void HttpServer::Impl::close_idle() {
  for (const auto& c : connections) {
    if (!c->busy) {
      beast::error_code ec;
      c->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      c->stream.socket().close(ec);
    }
  }
}

asio::awaitable<void> HttpServer::Impl::accept_loop() {
  asio::steady_timer backoff(io);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kTuple);
    if (!acceptor.is_open()) co_return;
    if (ec) {  // e.g. out of file descriptors: wait a little rather than spin
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(kTuple);
      continue;
    }
    if (static_cast<int>(connections.size()) >= options.max_connections) continue;  // socket closes here
    auto c = std::make_shared<Connection>(std::move(socket));
    connections.insert(c);
    asio::co_spawn(io, serve(c), [this, c](std::exception_ptr) {
      connections.erase(c);
      if (stopping && connections.empty()) io.stop();
    });
  }
}

asio::awaitable<void> HttpServer::Impl::serve(std::shared_ptr<Connection> c) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(options.max_body_bytes);
    c->busy = false;
    c->stream.expires_after(options.io_timeout);
    auto [ec, n_read] = co_await http::async_read(c->stream, buffer, parser, kTuple);
    c->busy = true;
    // (Arguments of co_awaited calls are named locals: GCC 12 destroys some temporaries in a
    // co_await expression twice.)
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      const bool body = ec == http::error::body_limit;
      const std::string message = body ? fmt::format("request body larger than the limit of {} bytes", options.max_body_bytes)
                                       : std::string("request headers larger than 64 KiB");
      co_await refuse_body(*c, body ? 413 : 431, message);
      break;
    }
    if (ec) {
      const bool malformed = ec.category() == http::make_error_code(http::error::bad_target).category() &&
                             ec != http::error::end_of_stream && ec != http::error::partial_message;
      if (malformed) {
        const std::string message = fmt::format("malformed HTTP request: {}", ec.message());
        co_await refuse_body(*c, 400, message);
      }
      break;
    }
    const auto& req = parser.get();
    HttpRequest request{std::string(req.method_string()), std::string(req.target()), req.body(),
                        std::string(req[http::field::authorization])};
    if (const size_t q = request.path.find('?'); q != std::string::npos) request.path.resize(q);
    HandlerResult result;
    try {
      result = handler(request);
    } catch (const std::exception& e) {
      result.response = HttpResponse{500, "application/json", error_body(e.what()), {}};
    }
    const unsigned version = req.version();
    bool ok = false;
    if (result.pending) {
      ok = co_await write_pending(*c, *result.pending, version, req.keep_alive());
    } else {
      ok = co_await write_response(*c, result.response, version, req.keep_alive() && !stopping);
    }
    if (!ok || !req.keep_alive() || stopping) break;
  }
  beast::error_code ec;
  c->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  c->stream.socket().close(ec);
}

asio::awaitable<bool> HttpServer::Impl::write_response(Connection& c, const HttpResponse& r, unsigned version,
                                                       bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "ponder");
  res.set(http::field::content_type, r.content_type);
  for (const auto& [name, value] : r.headers) res.set(name, value);
  res.body() = r.body;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  c.stream.expires_after(options.io_timeout);
  auto [ec, n] = co_await http::async_write(c.stream, res, kTuple);
  co_return !ec;
}

// Answers a request whose body will not be read, then reads and drops what the client is still
// sending (bounded in bytes and time), so that it sees the answer rather than a reset connection.
asio::awaitable<void> HttpServer::Impl::refuse_body(Connection& c, int status, const std::string& message) {
  const HttpResponse response{status, "application/json", error_body(message), {}};
  if (!co_await write_response(c, response, 11, false)) co_return;
  beast::error_code ec;
  c.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  c.stream.expires_after(std::chrono::seconds(5));
  std::vector<char> sink(64 * 1024);
  for (size_t drained = 0; drained < 4 * options.max_body_bytes + (64u << 20);) {
    auto [read_ec, n] = co_await c.stream.async_read_some(asio::buffer(sink), kTuple);
    if (read_ec) break;
    drained += n;
  }
}

std::shared_ptr<Watch> HttpServer::Impl::watch(Connection& c, std::shared_ptr<asio::steady_timer> wake) {
  auto w = std::make_shared<Watch>();
  const int fd = c.stream.socket().native_handle();
  c.stream.socket().async_wait(tcp::socket::wait_read, [w, wake, fd](beast::error_code ec) {
    w->active = false;
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      w->gone = true;
    } else {
      char byte = 0;
      const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      w->gone = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    }
    if (w->gone) wake->cancel();
  });
  return w;
}

// Writes a response produced elsewhere: a stream as it arrives, or a deferred response when it is
// there. False if the client went away first (then on_client_gone was called).
asio::awaitable<bool> HttpServer::Impl::write_pending(Connection& c, PendingResponse& p, unsigned version,
                                                      bool keep_alive) {
  auto wake = std::make_shared<asio::steady_timer>(io);
  p.set_waker([wake, executor = io.get_executor()] { asio::post(executor, [wake] { wake->cancel(); }); });
  const std::shared_ptr<Watch> w = watch(c, wake);
  const bool chunked = version >= 11;
  if (!chunked) keep_alive = false;  // HTTP/1.0: the end of the stream is the end of the connection
  std::optional<http::response<http::empty_body>> head;
  std::optional<http::response_serializer<http::empty_body>> serializer;
  bool ok = true;
  if (p.stream()) {
    head.emplace(http::status::ok, version);
    head->set(http::field::server, "ponder");
    head->set(http::field::content_type, "text/event-stream");
    head->set(http::field::cache_control, "no-cache");
    head->keep_alive(keep_alive);
    head->chunked(chunked);
    serializer.emplace(*head);
    c.stream.expires_after(options.io_timeout);
    auto [ec, n] = co_await http::async_write_header(c.stream, *serializer, kTuple);
    ok = !ec;
  }
  while (ok) {
    PendingResponse::Taken t = p.take();
    if (p.stream() && !t.bytes.empty()) {
      c.stream.expires_after(options.io_timeout);
      if (chunked) {
        const auto chunk = http::make_chunk(asio::buffer(t.bytes));
        auto [ec, n] = co_await asio::async_write(c.stream, chunk, kTuple);
        ok = !ec;
      } else {
        auto [ec, n] = co_await asio::async_write(c.stream, asio::buffer(t.bytes), kTuple);
        ok = !ec;
      }
    }
    if (ok && t.finished) {
      if (w->active) c.stream.socket().cancel();
      if (!p.stream()) co_return co_await write_response(c, t.response, version, keep_alive && !stopping);
      if (!chunked) co_return false;
      const auto last = http::make_chunk_last();
      auto [ec, n] = co_await asio::async_write(c.stream, last, kTuple);
      co_return !ec && keep_alive && !stopping;
    }
    if (!ok || w->gone) break;
    if (!t.bytes.empty()) continue;  // more may have come while writing: take it before waiting
    wake->expires_at(asio::steady_timer::time_point::max());
    co_await wake->async_wait(kTuple);
  }
  if (w->active) c.stream.socket().cancel();
  if (p.on_client_gone) p.on_client_gone();
  co_return false;
}

}  // namespace ponder::server
