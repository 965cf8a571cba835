#!/usr/bin/env python3
"""`ponder bench` on small synthetic models: the JSON report holds real rates beside the machine's
ceilings, --batch adds batched decode, --write saves a model that loads again, and bad options
give clear errors."""
import argparse, json, os, subprocess, sys, tempfile, unittest

PONDER = None


def bench(*args, check=True):
    r = subprocess.run([PONDER, "bench", *args], capture_output=True, text=True, timeout=600)
    if check and r.returncode != 0:
        raise AssertionError(f"ponder bench {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r


class BenchTest(unittest.TestCase):
    def test_json_report(self):
        r = bench("--synthetic", "smollm2-135m", "--quant", "q4_0", "-p", "32", "-n", "4", "--reps", "1",
                  "--batch", "1,3", "--ttft", "24", "-t", "2", "--json")
        j = json.loads(r.stdout)
        self.assertEqual(j["threads"], 2)
        self.assertEqual(j["n_prompt"], 32)
        for key in ("prefill_tps", "decode_tps"):
            self.assertGreater(j[key]["median"], 0)
            self.assertLessEqual(j[key]["min"], j[key]["median"])
            self.assertLessEqual(j[key]["median"], j[key]["max"])
        for key in ("ceiling_read_gbs", "ceiling_weights_read_gbs"):
            self.assertGreater(j[key]["min"], 0)
            self.assertLessEqual(j[key]["min"], j[key]["median"])
            self.assertLessEqual(j[key]["median"], j[key]["max"])
        self.assertGreater(j["ceiling_int8_gops"], 0)
        self.assertGreater(j["decode_read_gbs"], 0)
        self.assertGreater(j["ttft_ms"], 0)
        self.assertEqual(sorted(j["batched_decode_tps"]), ["1", "3"])
        for tps in j["batched_decode_tps"].values():
            self.assertGreater(tps, 0)
        # The synthetic model lives in memory: resident memory is about its size, not the 1 GiB probe.
        self.assertLess(j["peak_rss_mib"], 900)

    def test_write_then_load(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.gguf")
            r = bench("--synthetic", "smollm2-135m", "--quant", "q8_0", "--write", path)
            self.assertIn("wrote", r.stdout)
            self.assertGreater(os.path.getsize(path), 100 << 20)
            j = json.loads(bench(path, "-p", "8", "-n", "2", "--reps", "1", "--json").stdout)
            self.assertEqual(j["model"], path)
            self.assertGreater(j["decode_tps"]["median"], 0)
            self.assertEqual(j["file_bytes"], os.path.getsize(path))

    def test_bad_options(self):
        cases = [
            (["--synthetic", "nope"], "nope"),
            (["--synthetic", "smollm2-135m", "--quant", "q9"], "q9"),
            (["--synthetic", "smollm2-135m", "-n", "0", "--batch", "2"], "--batch"),
            (["--synthetic", "smollm2-135m", "--batch", "0"], "--batch"),
            (["/nonexistent/model.gguf"], "/nonexistent/model.gguf"),
            ([], "MODEL"),
        ]
        for args, needle in cases:
            r = bench(*args, check=False)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertIn(needle, r.stderr, args)
            self.assertNotIn("Traceback", r.stderr)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--ponder", required=True)
    args, rest = ap.parse_known_args()
    PONDER = os.path.abspath(args.ponder)
    unittest.main(argv=[sys.argv[0]] + rest)
