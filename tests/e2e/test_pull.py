#!/usr/bin/env python3
"""`ponder pull` and `ponder list` against a fake hub on 127.0.0.1: plain downloads, quant
selection, resume after a dropped connection and across runs, a server that ignores ranges,
corrupt bytes detected and deleted, missing files and repos reported clearly."""
import argparse
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_hub import FakeHub  # noqa: E402

PONDER = None
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "data", "qwen2")


def read(name):
    with open(os.path.join(GOLDEN, name), "rb") as f:
        return f.read()


class PullTest(unittest.TestCase):
    def setUp(self):
        self.hub = FakeHub()
        self.home = tempfile.TemporaryDirectory()
        self.env = dict(os.environ, PONDER_HOME=self.home.name, PONDER_HF_ENDPOINT=self.hub.url)
        self.q8 = read("model-q8_0.gguf")
        self.f16 = read("model-f16.gguf")
        self.hub.repos["acme/Tiny-GGUF"] = {"tiny-q8_0.gguf": self.q8, "tiny-f16.gguf": self.f16}

    def tearDown(self):
        self.hub.close()
        self.home.cleanup()

    def ponder(self, *args):
        return subprocess.run([PONDER, *args], env=self.env, capture_output=True, text=True, timeout=120)

    def cache(self, name):
        return os.path.join(self.home.name, "models", "acme", "Tiny-GGUF", name)

    def assert_cached(self, name, data):
        with open(self.cache(name), "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertFalse(os.path.exists(self.cache(name) + ".part"))

    def test_pull_quant_then_list_and_inspect(self):
        r = self.ponder("pull", "acme/Tiny-GGUF:Q8_0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), self.cache("tiny-q8_0.gguf"))
        self.assert_cached("tiny-q8_0.gguf", self.q8)
        self.assertFalse(os.path.exists(self.cache("tiny-f16.gguf")))
        n = len(self.hub.requests)
        self.assertEqual(self.ponder("pull", "acme/Tiny-GGUF:q8_0").returncode, 0)
        self.assertFalse(any("resolve" in p for p, _ in self.hub.requests[n:]), "a cached file was downloaded again")
        listing = self.ponder("list").stdout
        self.assertIn("acme/Tiny-GGUF:tiny-q8_0.gguf", listing)
        r = self.ponder("inspect", "acme/Tiny-GGUF:Q8_0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("architecture  qwen2", r.stdout)

    def test_dropped_connection_resumes_with_range(self):
        self.hub.drops[("acme/Tiny-GGUF", "tiny-q8_0.gguf")] = [40000, 30000]
        r = self.ponder("pull", "acme/Tiny-GGUF:Q8_0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_cached("tiny-q8_0.gguf", self.q8)
        ranges = [rng for p, rng in self.hub.requests if "resolve" in p]
        self.assertEqual(ranges, [None, "bytes=40000-", "bytes=70000-"])

    def test_interrupted_run_resumes_from_part_file(self):
        os.makedirs(os.path.dirname(self.cache("x")), exist_ok=True)
        with open(self.cache("tiny-q8_0.gguf") + ".part", "wb") as f:
            f.write(self.q8[:12345])
        r = self.ponder("pull", "acme/Tiny-GGUF:Q8_0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_cached("tiny-q8_0.gguf", self.q8)
        self.assertEqual([rng for p, rng in self.hub.requests if "resolve" in p], ["bytes=12345-"])

    def test_server_ignoring_range_restarts_cleanly(self):
        os.makedirs(os.path.dirname(self.cache("x")), exist_ok=True)
        with open(self.cache("tiny-q8_0.gguf") + ".part", "wb") as f:
            f.write(self.q8[:5000])
        self.hub.ignore_range = True
        r = self.ponder("pull", "acme/Tiny-GGUF:Q8_0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_cached("tiny-q8_0.gguf", self.q8)

    def test_corrupt_download_is_detected_and_not_used(self):
        self.hub.listed_sha[("acme/Tiny-GGUF", "tiny-q8_0.gguf")] = "0" * 64
        r = self.ponder("pull", "acme/Tiny-GGUF:Q8_0")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("does not match the hub's", r.stderr)
        self.assertFalse(os.path.exists(self.cache("tiny-q8_0.gguf")))
        self.assertFalse(os.path.exists(self.cache("tiny-q8_0.gguf") + ".part"))
        r = self.ponder("inspect", "acme/Tiny-GGUF:Q8_0")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ponder pull acme/Tiny-GGUF:Q8_0", r.stderr)

    def test_missing_file_repo_and_quant_are_clear_errors(self):
        self.hub.missing.add(("acme/Tiny-GGUF", "tiny-f16.gguf"))
        r = self.ponder("pull", "acme/Tiny-GGUF:F16")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("file tiny-f16.gguf not found", r.stderr)
        r = self.ponder("pull", "acme/Nothing-GGUF")
        self.assertIn("model acme/Nothing-GGUF not found", r.stderr)
        r = self.ponder("pull", "acme/Tiny-GGUF:Q5_K_M")
        self.assertIn("no GGUF file for quant 'Q5_K_M'", r.stderr)
        self.assertIn("tiny-q8_0.gguf", r.stderr)
        r = self.ponder("pull", "../etc:passwd")
        self.assertIn("not a model name", r.stderr)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--ponder", required=True)
    args, rest = ap.parse_known_args()
    PONDER = os.path.abspath(args.ponder)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
