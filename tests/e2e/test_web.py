#!/usr/bin/env python3
"""The chat page that `ponder serve` embeds at /, in a real browser (Chromium through Playwright)
against the real server and scripted reasoning models (scripted_model.py): the thought streams
into its own fold and the answer apart, turns carry on, Stop cancels the request on the server,
the API key is asked for, user text is never parsed as HTML, and the page raises no script error.
Plain HTTP checks of the page's files and headers run without a browser."""
import argparse, os, shutil, sys, tempfile, time, unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scripted_model  # noqa: E402
from serve_util import Server  # noqa: E402

PONDER = None
CHROMIUM = shutil.which("chromium")
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:
    sync_playwright = None


class PageFiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.server = Server(PONDER, scripted_model.write_thinker(os.path.join(cls.dir.name, "thinker.gguf")),
                            api_key="sekret")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.dir.cleanup()

    def test_files_and_headers(self):
        for path, kind, needle in [("/", "text/html", "<title>Ponder</title>"), ("/index.html", "text/html", "app.js"),
                                   ("/app.js", "text/javascript", "/v1/chat/completions"),
                                   ("/style.css", "text/css", ".message")]:
            # Public: no Authorization header even though the server has a key.
            status, headers, body = self.server.request("GET", path, headers={"Authorization": ""})
            self.assertEqual(status, 200, path)
            self.assertTrue(headers["Content-Type"].startswith(kind), headers)
            self.assertIn("default-src 'self'", headers["Content-Security-Policy"])
            self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
            self.assertIn(needle, body)
        self.assertEqual(self.server.request("POST", "/", body={})[0], 405)
        self.assertEqual(self.server.request("GET", "/secret.js")[0], 404)
        self.assertEqual(self.server.request("GET", "/v1/models", headers={"Authorization": ""})[0], 401)
        self.assertGreaterEqual(self.server.metrics()['ponder_requests_total{endpoint="/",status="200"}'], 4)


@unittest.skipIf(sync_playwright is None or CHROMIUM is None,
                 "needs playwright (PyPI) and chromium (Debian): scripts/setup.sh installs both")
class ChatPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.thinker = scripted_model.write_thinker(os.path.join(cls.dir.name, "thinker.gguf"))
        cls.overthinker = scripted_model.write_overthinker(os.path.join(cls.dir.name, "overthinker.gguf"))
        cls.playwright = sync_playwright().start()
        cls.browser = cls.playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        cls.playwright.stop()
        cls.dir.cleanup()

    def open(self, server):
        page = self.browser.new_page()
        self.errors = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.goto(server.url + "/")
        return page

    def send(self, page, text):
        page.fill("#input", text)
        page.press("#input", "Enter")

    def test_conversation(self):
        server = Server(PONDER, self.thinker)
        try:
            page = self.open(server)
            model_id = server.client().models.list().data[0].id
            expect(page.locator("#model")).to_have_text(model_id)
            question = "Hello <img src=x onerror=alert(1)> & <b>bold</b>"
            self.send(page, question)
            assistant = page.locator(".message.assistant").last
            expect(assistant.locator(".text").first).to_have_text(scripted_model.ANSWER, timeout=30000)
            expect(assistant.locator(".thinking-text")).to_have_text(scripted_model.THOUGHT)
            expect(assistant.locator(".stats")).to_contain_text("tokens")
            expect(assistant.locator("summary")).to_contain_text("Thought for")
            self.assertFalse(assistant.locator("details").evaluate("d => d.open"), "the thought folds once answered")
            user = page.locator(".message.user").last
            expect(user.locator(".text")).to_have_text(question)
            self.assertEqual(page.locator(".message img, .message b").count(), 0)
            # A second turn: the history goes back (without the thought) and the model answers again.
            self.send(page, "And again?")
            expect(page.locator(".message.assistant")).to_have_count(2)
            expect(page.locator(".message.assistant").last.locator(".text").first).to_have_text(
                scripted_model.ANSWER, timeout=30000)
            expect(page.locator("#send")).to_be_visible()
            # New chat clears the page.
            page.click("#new-chat")
            expect(page.locator(".message")).to_have_count(0)
            self.assertEqual(self.errors, [])
        finally:
            server.stop()

    def test_stop_cancels_on_the_server(self):
        # The overthinker thinks until the context is full: 200k tokens take the server over 10 s.
        server = Server(PONDER, self.overthinker, "--ctx-size", "200000")
        try:
            page = self.open(server)
            expect(page.locator("#model")).not_to_have_text("…")
            self.send(page, "Think about it")
            thought = page.locator(".message.assistant .thinking-text")
            expect(thought).to_contain_text(scripted_model.LOOP.strip() + scripted_model.LOOP * 3, timeout=30000)
            page.click("#stop")
            stopped_at = time.time()
            expect(page.locator("#send")).to_be_visible()
            expect(page.locator(".message.assistant .stats")).to_contain_text("stopped")
            # The server cancels the request as soon as the page lets go of it.
            while server.metrics()["ponder_requests_running"] != 0 and time.time() < stopped_at + 5:
                time.sleep(0.05)
            self.assertEqual(server.metrics()["ponder_requests_running"], 0)
            self.assertLess(server.metrics()["ponder_generated_tokens_total"], 150000)
            self.assertEqual(self.errors, [])
        finally:
            server.stop()

    def test_api_key(self):
        server = Server(PONDER, self.thinker, api_key="sekret")
        try:
            page = self.open(server)
            expect(page.locator("#model")).to_contain_text("API key")
            self.assertTrue(page.locator("#settings").evaluate("d => d.open"))
            page.fill("#api-key", "sekret")
            page.dispatch_event("#api-key", "change")
            expect(page.locator("#model")).to_have_text(server.client().models.list().data[0].id)
            self.send(page, "Hi")
            expect(page.locator(".message.assistant .text").first).to_have_text(scripted_model.ANSWER, timeout=30000)
            # A wrong key shows the server's error in the conversation, and the page stays usable.
            page.fill("#api-key", "wrong")
            page.dispatch_event("#api-key", "change")
            expect(page.locator("#model")).to_contain_text("API key")
            self.assertEqual(self.errors, [])
        finally:
            server.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--ponder", required=True)
    args, rest = ap.parse_known_args()
    PONDER = os.path.abspath(args.ponder)
    unittest.main(argv=[sys.argv[0]] + rest)
