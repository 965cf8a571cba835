#!/usr/bin/env python3
"""Aggregate generation throughput of `ponder serve` with 1, 4, 16 and 32 concurrent streaming
clients (continuous batching: decode tokens of all running requests share one forward), printed as
tokens/s and as the ratio to one client, all from one run on one server.

  python3 bench/serve_bench.py --ponder build/release/ponder --model MODEL [--clients 1,4,16,32]
      [--tokens 128] [--prompt-tokens 16] [--json]

Each client streams a completion of a different prompt of --prompt-tokens token ids (16), greedy,
max_tokens=--tokens (128).
Throughput = generated tokens (from each stream's usage) / wall time from the first request sent
to the last stream done, prompt processing included."""
import argparse, concurrent.futures, json, os, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from serve_util import Server  # noqa: E402


def run_clients(client, model, n, tokens, prompt_tokens):
    def one(i):
        # A prompt of token ids, different for each client, of the same length whatever the
        # model's tokenizer (a synthetic model's byte-level one would make text prompts long).
        prompt = [(1000 + 37 * i + 11 * k) % 30000 for k in range(prompt_tokens)]
        stream = client.completions.create(model=model, prompt=prompt, max_tokens=tokens,
                                           temperature=0, stream=True, stream_options={"include_usage": True})
        return sum(chunk.usage.completion_tokens for chunk in stream if chunk.usage)
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        generated = sum(pool.map(one, range(n)))
    wall = time.time() - t0
    return generated / wall, wall, generated


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ponder", required=True)
    ap.add_argument("--model", default="default")
    ap.add_argument("--clients", default="1,4,16,32")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--prompt-tokens", type=int, default=16)
    ap.add_argument("--ctx", default="16384")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    server = Server(args.ponder, args.model, "--ctx", args.ctx, "--parallel", "64")
    try:
        client = server.client(timeout=3600)
        model = client.models.list().data[0].id
        run_clients(client, model, 2, 8, args.prompt_tokens)  # warm-up
        results = []
        for n in [int(x) for x in args.clients.split(",")]:
            rate, wall, generated = run_clients(client, model, n, args.tokens, args.prompt_tokens)
            results.append({"clients": n, "tokens_per_s": rate, "wall_s": wall, "tokens": generated})
        base = results[0]["tokens_per_s"]
        for r in results:
            r["ratio_to_first"] = r["tokens_per_s"] / base
        if args.json:
            print(json.dumps({"model": model, "tokens_per_request": args.tokens, "results": results}, indent=2))
        else:
            print(f"model {model}, {args.prompt_tokens}-token prompts, {args.tokens} tokens per request, "
                  f"load {os.getloadavg()[0]:.1f}")
            print(f"{'clients':>8} {'tokens':>7} {'tokens/s':>10} {'× 1 client':>11} {'wall s':>8}")
            for r in results:
                print(f"{r['clients']:>8} {r['tokens']:>7} {r['tokens_per_s']:>10.1f} {r['ratio_to_first']:>11.2f} "
                      f"{r['wall_s']:>8.1f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
