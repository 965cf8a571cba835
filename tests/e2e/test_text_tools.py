#!/usr/bin/env python3
"""`ponder render` and `ponder tokenize` as a user runs them: the QwQ-32B template rendered through
the command line must equal Python Jinja2's output for every conversation of the template golden
set (tests/golden/templates, made by tools/render_templates.py), and templates that raise must
fail with the template's message; tokenize prints ids and pieces that decode back to the text."""
import argparse, json, os, subprocess, sys, tempfile, unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reasoning_model  # noqa: E402

PONDER = None
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "templates")
NAME = "Qwen-QwQ-32B"


class TextToolsTest(reasoning_model.ReasoningModelTest):
    def ponder(self, *args, stdin=None):
        return subprocess.run([PONDER, *args], input=stdin, capture_output=True, timeout=60)

    def test_render_matches_jinja2_for_every_conversation(self):
        with open(os.path.join(TEMPLATES, "conversations.json")) as f:
            conversations = json.load(f)
        template = os.path.join(TEMPLATES, "source", NAME + ".jinja")
        checked = 0
        for c in conversations:
            expected = os.path.join(TEMPLATES, "expected", NAME, c["name"])
            conv = os.path.join(self.dir.name, c["name"] + ".json")
            with open(conv, "w") as f:
                json.dump({"messages": c["messages"], "tools": c.get("tools")}, f)
            args = ["render", self.model, conv, "--template", template]
            if not c.get("add_generation_prompt", True):
                args.append("--no-generation-prompt")
            for key, value in (c.get("extra") or c.get("extra_context") or {}).items():
                args += ["--var", f"{key}={json.dumps(value)}"]
            r = self.ponder(*args)
            with self.subTest(conversation=c["name"]):
                if os.path.exists(expected + ".txt"):
                    with open(expected + ".txt", "rb") as f:
                        self.assertEqual(r.stdout, f.read(), r.stderr.decode())
                    checked += 1
                else:
                    self.assertNotEqual(r.returncode, 0)
                    self.assertIn(b"error", r.stderr)
        self.assertGreater(checked, 20)

    def test_tokenize_ids_and_pieces(self):
        r = self.ponder("tokenize", self.model, "Hello there <think> 16", "--pieces")
        self.assertEqual(r.returncode, 0, r.stderr)
        pieces = [json.loads(line.split(None, 1)[1]) for line in r.stdout.decode().splitlines()]
        self.assertEqual("".join(pieces), "Hello there <think> 16")
        self.assertIn("<think>", pieces)  # an added token, matched whole
        plain = self.ponder("tokenize", self.model, "<|im_start|>").stdout.split()
        special = self.ponder("tokenize", self.model, "<|im_start|>", "--special").stdout.split()
        self.assertEqual(special, [b"317"])
        self.assertGreater(len(plain), 1)
        stdin = self.ponder("tokenize", self.model, "-", stdin=b"Hello there")
        self.assertEqual(stdin.stdout, self.ponder("tokenize", self.model, "Hello there").stdout)

    def test_errors_name_the_problem(self):
        bad = os.path.join(self.dir.name, "bad.json")
        with open(bad, "w") as f:
            f.write("{not json")
        r = self.ponder("render", self.model, bad)
        self.assertIn(b"is not valid JSON", r.stderr)
        r = self.ponder("render", self.model, "/nonexistent.json")
        self.assertIn(b"cannot read /nonexistent.json", r.stderr)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--ponder", required=True)
    args, rest = ap.parse_known_args()
    PONDER = os.path.abspath(args.ponder)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
