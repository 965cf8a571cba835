#!/usr/bin/env python3
"""Aggregate generation throughput of `ponder serve` with 1, 4, 16 and 32 concurrent streaming
clients (continuous batching: decode tokens of all running requests share one forward), printed as
tokens/s and as the ratio to one client, all from one run on one server.

  python3 bench/serve_bench.py --ponder build/release/ponder --model MODEL [--clients 1,4,16,32]
      [--tokens 128] [--prompt-tokens 16] [--openai-client] [--json]

Each client streams a completion of a different prompt of --prompt-tokens token ids (16), greedy,
max_tokens=--tokens (128).
Throughput = generated tokens (from each stream's usage) / wall time from the first request sent
to the last stream done, prompt processing included.

The clients run on the server's machine, so their CPU time is taken from the server's. By default
they read the SSE stream with http.client and parse only its usage chunk; --openai-client uses the
official client instead (it builds an object for every chunk: about 0.8 CPU s against 0.1 for 16
clients × 128 tokens). The client CPU seconds are printed beside each row."""
import argparse, concurrent.futures, http.client, json, os, resource, sys, time, urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from serve_util import Server  # noqa: E402


def stream_raw(url, body):
    """Completion tokens of one streamed completion, read from its usage chunk (the server writes
    compact JSON, so only that chunk holds `"usage":{`; the others carry no usage or null)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=3600)
    try:
        conn.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
        r = conn.getresponse()
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}: {r.read().decode()}")
        tokens = None
        for line in r:
            if line.startswith(b"data: {") and b'"usage":{' in line:
                tokens = json.loads(line[6:])["usage"]["completion_tokens"]
        if tokens is None:
            raise RuntimeError("the stream carried no usage")
        return tokens
    finally:
        conn.close()


def run_clients(server, client, model, n, tokens, prompt_tokens):
    def one(i):
        # A prompt of token ids, different for each client, of the same length whatever the
        # model's tokenizer (a synthetic model's byte-level one would make text prompts long).
        prompt = [(1000 + 37 * i + 11 * k) % 30000 for k in range(prompt_tokens)]
        body = dict(model=model, prompt=prompt, max_tokens=tokens, temperature=0, stream=True,
                    stream_options={"include_usage": True})
        if client is None:
            return stream_raw(server.url, body)
        stream = client.completions.create(**body)
        return sum(chunk.usage.completion_tokens for chunk in stream if chunk.usage)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        generated = sum(pool.map(one, range(n)))
    wall = time.time() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return generated / wall, wall, generated, client_cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ponder", required=True)
    ap.add_argument("--model", default="default")
    ap.add_argument("--clients", default="1,4,16,32")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--prompt-tokens", type=int, default=16)
    ap.add_argument("--ctx", default="16384")
    ap.add_argument("--openai-client", action="store_true", help="stream with the official openai client")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    server = Server(args.ponder, args.model, "--ctx", args.ctx, "--parallel", "64")
    try:
        status, _, text = server.request("GET", "/v1/models")
        if status != 200:
            raise RuntimeError(f"GET /v1/models: HTTP {status}: {text}")
        model = json.loads(text)["data"][0]["id"]
        client = server.client(timeout=3600) if args.openai_client else None
        run_clients(server, client, model, 2, 8, args.prompt_tokens)  # warm-up
        results = []
        for n in [int(x) for x in args.clients.split(",")]:
            rate, wall, generated, cpu = run_clients(server, client, model, n, args.tokens, args.prompt_tokens)
            results.append({"clients": n, "tokens_per_s": rate, "wall_s": wall, "tokens": generated,
                            "client_cpu_s": cpu})
        base = results[0]["tokens_per_s"]
        for r in results:
            r["ratio_to_first"] = r["tokens_per_s"] / base
        if args.json:
            print(json.dumps({"model": model, "tokens_per_request": args.tokens, "results": results}, indent=2))
        else:
            print(f"model {model}, {args.prompt_tokens}-token prompts, {args.tokens} tokens per request, "
                  f"load {os.getloadavg()[0]:.1f}")
            print(f"{'clients':>8} {'tokens':>7} {'tokens/s':>10} {'× 1 client':>11} {'wall s':>8} {'client cpu s':>13}")
            for r in results:
                print(f"{r['clients']:>8} {r['tokens']:>7} {r['tokens_per_s']:>10.1f} {r['ratio_to_first']:>11.2f} "
                      f"{r['wall_s']:>8.1f} {r['client_cpu_s']:>13.1f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
