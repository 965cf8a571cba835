"""A `ponder serve` process for tests and benchmarks: started on a free port of 127.0.0.1, its
address read from its first lines, stopped with SIGTERM."""
import json, os, queue, re, signal, subprocess, sys, threading, time, urllib.error, urllib.request


class Server:
    def __init__(self, ponder, model, *args, api_key=None):
        cmd = [ponder, "serve", model, "--port", "0", *args]
        if api_key:
            cmd += ["--api-key", api_key]
        self.api_key = api_key
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # A thread reads stdout line by line (a select() on the pipe would miss lines already buffered).
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l) for l in self.proc.stdout], daemon=True).start()
        self.banner = ""
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise RuntimeError("ponder serve exited: " + self.proc.stderr.read())
                continue
            self.banner += line
            m = re.search(r"listening on (http://[\d.]+:\d+)", line)
            if m:
                self.url = m.group(1)
                return
        self.proc.kill()
        raise RuntimeError("ponder serve did not start: " + self.banner)

    def client(self, **kw):
        import openai
        return openai.OpenAI(base_url=self.url + "/v1", api_key=self.api_key or "unused", max_retries=0, **kw)

    def request(self, method, path, body=None, headers=None, raw=None):
        """(status, headers, body text) of one plain HTTP request."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        h = {"Content-Type": "application/json"}
        if self.api_key:
            h["Authorization"] = "Bearer " + self.api_key
        h.update(headers or {})
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def metrics(self):
        status, _, text = self.request("GET", "/metrics")
        assert status == 200, text
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
            if code != 0:
                print(f"ponder serve exited with {code}: {self.proc.stderr.read()}", file=sys.stderr)
            return code
        finally:
            self.proc.stderr.close()


def default_model_path():
    home = os.environ.get("PONDER_HOME", os.path.join(os.path.expanduser("~"), ".cache", "ponder"))
    return os.path.join(home, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
