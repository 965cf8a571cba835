#!/usr/bin/env python3
"""`ponder chat` driven through a real pseudo-terminal, as a person would: ask, see the thinking
dimmed and folded and the answer, set a thinking budget, stop an answer with Ctrl-C and go on,
reset, save and load, leave with Ctrl-D."""
import argparse, fcntl, os, pty, re, select, struct, sys, tempfile, termios, time, unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reasoning_model  # noqa: E402

PONDER = None
DIM = "\x1b[2m"


class Terminal:
    def __init__(self, args, rows=50, cols=120):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe(args[0], args, dict(os.environ, TERM="xterm"))
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.buffer = ""
        self.pos = 0  # everything before this has been matched by read_until

    def read_until(self, pattern, timeout=60):
        deadline = time.time() + timeout
        start = self.pos
        while time.time() < deadline:
            match = re.search(pattern, self.buffer[start:])
            if match:
                self.pos = start + match.end()
                return self.buffer[start:self.pos]
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    self.buffer += os.read(self.fd, 65536).decode("utf-8", errors="replace")
                except OSError:
                    break
        raise AssertionError(f"timed out waiting for {pattern!r}; screen ends with {self.buffer[-800:]!r}")

    def send(self, text):
        # The line editor switches the terminal mode after printing its prompt, which discards
        # typeahead; a person never types within milliseconds of a prompt, so neither do we.
        time.sleep(0.2)
        os.write(self.fd, text.encode())

    def wait(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    self.buffer += os.read(self.fd, 65536).decode("utf-8", errors="replace")
                except OSError:
                    pass
        os.kill(self.pid, 9)
        raise AssertionError(f"ponder chat did not exit; screen ends with {self.buffer[-800:]!r}")


class ChatTest(reasoning_model.ReasoningModelTest):
    def chat(self, *extra):
        t = Terminal([PONDER, "chat", self.model, "--backend", "ref", "--seed", "3", "--ctx", "8192", *extra])
        t.read_until(r">>> ")
        return t

    def test_thinking_dimmed_budget_answer_and_fold(self):
        t = self.chat("-n", "120")
        t.send("/budget 6\r")
        t.read_until(r"thinking budget: 6")
        t.read_until(r">>> ")
        t.send("What is 17 x 23?\r")
        screen = t.read_until(r">>> ")
        self.assertIn(DIM + "Thinking...", screen)
        self.assertIn("Considering the limited time", screen)
        self.assertIn("▸ thought for", screen)  # folded once the answer was complete
        self.assertRegex(screen, r"\d+ prompt tokens, \d+ thinking, \d+ answer")
        self.assertIn("thinking budget reached", screen)
        t.send("/thought\r")
        self.assertIn("Considering the limited time", t.read_until(r">>> "))
        t.send("/stats\r")
        self.assertIn("session: 2 messages", t.read_until(r">>> "))
        t.send("\x04")
        self.assertEqual(t.wait(), 0)

    def test_ctrl_c_stops_the_answer_and_keeps_the_session(self):
        # The random model could end its turn or thought by chance; ban those tokens so only Ctrl-C can.
        t = self.chat("-n", "100000", "--logit-bias", "318=-100", "--logit-bias", "319=-100",
                      "--logit-bias", "315=-100")
        t.send("Think for a long time\r")
        t.read_until(r"Thinking\.\.\.")
        time.sleep(0.5)
        t.send("\x03")
        screen = t.read_until(r">>> ", timeout=30)
        self.assertIn("[stopped]", screen)
        t.send("/budget 4\r")
        t.read_until(r">>> ")
        t.send("/reset\r")
        self.assertIn("conversation cleared", t.read_until(r">>> "))
        t.send("again\r")
        screen = t.read_until(r">>> ", timeout=120)
        self.assertIn("thinking budget reached", screen)
        t.send("/exit\r")
        self.assertEqual(t.wait(), 0)

    def test_save_load_and_bad_commands(self):
        t = self.chat("-n", "30", "--budget", "3")
        t.send("hello\r")
        t.read_until(r">>> ")
        saved = os.path.join(self.dir.name, "conversation.json")
        t.send(f"/save {saved}\r")
        self.assertIn("saved 2 messages", t.read_until(r">>> "))
        t.send("/reset\r")
        t.read_until(r">>> ")
        t.send(f"/load {saved}\r")
        self.assertIn("loaded 2 messages", t.read_until(r">>> "))
        t.send("/load /nonexistent/file.json\r")
        self.assertIn("error: cannot read /nonexistent/file.json", t.read_until(r">>> "))
        t.send("/think loud\r")
        self.assertIn("error: thinking display must be show, dim or hide", t.read_until(r">>> "))
        t.send("/nope\r")
        self.assertIn("unknown command /nope", t.read_until(r">>> "))
        t.send("\x03")  # Ctrl-C at the prompt: a fresh prompt, not an exit
        t.read_until(r">>> ")
        t.send("\x04")
        self.assertEqual(t.wait(), 0)


class RunTest(reasoning_model.ReasoningModelTest):
    def run_ponder(self, *args, stdin=""):
        import subprocess
        return subprocess.run([PONDER, "run", *args], input=stdin, capture_output=True, text=True, timeout=120)

    def test_json_separates_reasoning_and_answer(self):
        import json
        r = self.run_ponder(self.model, "What is 17 x 23?", "--backend", "ref", "--seed", "5", "--budget", "8",
                            "-n", "150", "--logit-bias", "318=-100", "--logit-bias", "319=-100",
                            "--logit-bias", "315=-100", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertTrue(out["reasoning"].endswith("directly now."))
        self.assertTrue(out["answer"])
        self.assertTrue(out["thinking_budget_reached"])
        self.assertEqual(out["finish_reason"], "length")
        self.assertEqual(out["usage"]["reasoning_tokens"] + out["usage"]["answer_tokens"], 150)

    def test_prompt_from_stdin_and_same_seed_same_answer(self):
        a = self.run_ponder(self.model, "--backend", "ref", "--seed", "9", "-n", "20", "--think", "show",
                            stdin="hello there")
        b = self.run_ponder(self.model, "-", "--backend", "ref", "--seed", "9", "-n", "20", "--think", "show",
                            stdin="hello there")
        self.assertEqual(a.returncode, 0, a.stderr)
        self.assertEqual(a.stdout, b.stdout)
        self.assertIn("Thinking...", a.stdout)
        self.assertIn("prompt tokens", a.stderr)

    def test_bad_arguments_are_clear_errors(self):
        r = self.run_ponder(self.model, "hi", "--temperature", "-1", "--backend", "ref")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("temperature -1 outside [0, 100]", r.stderr)
        r = self.run_ponder("/nonexistent.gguf", "hi")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("error:", r.stderr)
        r = self.run_ponder(self.model, "hi", "--backend", "tpu")
        self.assertIn("backend 'tpu' is not available here", r.stderr)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--ponder", required=True)
    args, rest = ap.parse_known_args()
    PONDER = os.path.abspath(args.ponder)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
