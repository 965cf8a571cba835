"""A Hugging Face-compatible hub on 127.0.0.1 for tests: the file-listing API and file downloads
with HTTP range requests, plus faults on demand (a connection dropped after N bytes, bytes that do
not match the listed SHA-256, a listed file that is missing, a server that ignores ranges)."""
import hashlib
import http.server
import json
import threading


class FakeHub:
    def __init__(self):
        self.repos = {}        # "owner/repo" -> {filename: bytes}
        self.listed_sha = {}   # (repo, filename) -> sha256 to list instead of the real one
        self.missing = set()   # (repo, filename) listed but answering 404
        self.drops = {}        # (repo, filename) -> [byte counts at which to drop, consumed in order]
        self.ignore_range = False
        self.requests = []     # (path, Range header or None)
        handler = self._handler()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.handle_error = lambda request, address: None  # dropped connections are the point
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()

    def _listing(self, repo):
        out = []
        for name, data in self.repos[repo].items():
            sha = self.listed_sha.get((repo, name), hashlib.sha256(data).hexdigest())
            out.append({"type": "file", "path": name, "size": len(data), "lfs": {"oid": sha, "size": len(data)}})
        out.append({"type": "file", "path": "README.md", "size": 10})
        return json.dumps(out).encode()

    def _handler(self):
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def send_body(self, status, body, extra=()):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                for k, v in extra:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                hub.requests.append((self.path, self.headers.get("Range")))
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) >= 5 and parts[0] == "api" and parts[1] == "models":
                    repo = f"{parts[2]}/{parts[3]}"
                    if repo not in hub.repos:
                        return self.send_body(404, b'{"error": "Repository not found"}')
                    return self.send_body(200, hub._listing(repo))
                if len(parts) == 5 and parts[2] == "resolve":
                    repo, name = f"{parts[0]}/{parts[1]}", parts[4]
                    data = hub.repos.get(repo, {}).get(name)
                    if data is None or (repo, name) in hub.missing:
                        return self.send_body(404, b"Entry not found")
                    return self.send_file(repo, name, data)
                self.send_body(404, b"no such endpoint")

            def send_file(self, repo, name, data):
                start = 0
                rng = self.headers.get("Range")
                if rng and not hub.ignore_range and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                body = data[start:]
                drops = hub.drops.get((repo, name), [])
                cut = drops.pop(0) if drops else None
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body)))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if cut is not None and cut < len(body):
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        return Handler
