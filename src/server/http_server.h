// HttpServer: HTTP/1.1 over Boost.Beast, on one I/O thread. It reads requests (headers and body
// bounded: an oversized body gets 413 before it is read), hands each to a Handler, and writes
// what the handler answers: at once, later (a PendingResponse finished from another thread, e.g.
// the engine's), or as a server-sent-event stream written piece by piece with chunked encoding.
// While a response is pending it watches the socket, so a client that goes away is noticed at
// once (PendingResponse::on_client_gone) rather than at the next write. Keep-alive connections
// are served until the client closes, the I/O timeout passes, or the server stops.
//
// Cost: one coroutine per connection; no thread per request. The handler runs on the I/O thread,
// so it must not block (the engine runs elsewhere).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ponder::server {

struct HttpRequest {
  std::string method;         // "GET", "POST", ...
  std::string path;           // target without the query string
  std::string body;
  std::string authorization;  // the Authorization header, if any
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// A response produced on another thread. Deferred: finish(response) delivers it whole. Stream:
// the server sends 200 text/event-stream at once, then every write() as it comes, until finish().
// All methods are thread-safe.
class PendingResponse {
 public:
  explicit PendingResponse(bool stream) : stream_(stream) {}

  bool stream() const { return stream_; }
  void write(std::string bytes);            // stream: more of the body
  void finish(HttpResponse response = {});  // deferred: the response; stream: the end of the body

  // Set by the producer before handing the response over: called (on the I/O thread) once if the
  // client disconnects or a write fails before finish(). The producer should stop its work.
  std::function<void()> on_client_gone;

  // For the server: what arrived since the last call; `finished` once finish() was called.
  struct Taken {
    std::string bytes;
    bool finished = false;
    HttpResponse response;
  };
  Taken take();
  void set_waker(std::function<void()> waker);  // called from any thread when something arrives

 private:
  void wake(std::unique_lock<std::mutex>& lock);
  const bool stream_;
  std::mutex mutex_;
  std::string pending_;
  bool finished_ = false;
  HttpResponse response_;
  std::function<void()> waker_;
};

// What a handler answers: a response now, or a pending one.
struct HandlerResult {
  HttpResponse response;
  std::shared_ptr<PendingResponse> pending;
};
using Handler = std::function<HandlerResult(const HttpRequest&)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;                          // 0: any free port (see port())
  size_t max_body_bytes = 8u << 20;              // larger bodies get 413
  std::chrono::seconds io_timeout{600};          // to send a request, and for each write
  int max_connections = 1024;                    // more are closed at once
};

class HttpServer {
 public:
  // Binds and listens (throws ponder::Error naming the address if that fails).
  HttpServer(HttpServerOptions options, Handler handler);
  ~HttpServer();

  uint16_t port() const;
  // Serves until stop(). SIGINT / SIGTERM stop new connections and call `on_signal` (on the I/O
  // thread), which should finish the work in flight and then call stop().
  void run(std::function<void()> on_signal);
  // Thread-safe: closes idle connections, lets responses in flight finish, and makes run()
  // return when none is left (or after `grace`).
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ponder::server
