#!/usr/bin/env python3
"""`ponder serve` as applications use it: the real server on 127.0.0.1, driven by the official
`openai` Python client and by plain HTTP.

- SmolLM2-135M (the default model, a real chat model): chat and completions, streamed and not,
  equal to each other; seed determinism; logprobs; 32 concurrent streams each equal to its solo
  greedy output; prefix reuse of a long system prompt (usage and /metrics); every error status,
  with the server still serving after each.
- Scripted reasoning models (scripted_model.py: real GGUF files whose next token is fixed by a
  script): reasoning_content apart from content, tool calls (streamed too), the thinking budget,
  a client that disconnects, KV exhaustion, a full queue, and SIGTERM."""
import argparse, concurrent.futures, json, os, socket, sys, tempfile, threading, time, unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scripted_model  # noqa: E402
from serve_util import Server, default_model_path  # noqa: E402

PONDER = None
KEY = "sk-test-0123456789"
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def user(text):
    return [{"role": "user", "content": text}]


@unittest.skipUnless(os.path.exists(default_model_path()), "default model not installed (scripts/setup.sh)")
class SmolServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(PONDER, "default", "--ctx", "8192", "--parallel", "32", api_key=KEY)
        cls.client = cls.server.client()
        cls.model = cls.client.models.list().data[0].id

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0

    def chat(self, messages, **kw):
        kw.setdefault("temperature", 0)
        kw.setdefault("max_tokens", 24)
        return self.client.chat.completions.create(model=self.model, messages=messages, **kw)

    def stream_text(self, messages, **kw):
        kw.setdefault("temperature", 0)
        kw.setdefault("max_tokens", 24)
        text, finish = "", None
        for chunk in self.client.chat.completions.create(model=self.model, messages=messages, stream=True, **kw):
            for c in chunk.choices:
                text += c.delta.content or ""
                finish = c.finish_reason or finish
        return text, finish

    def assert_still_serving(self):
        status, _, body = self.server.request("GET", "/health")
        self.assertEqual((status, json.loads(body)["status"]), (200, "ok"))
        self.assertTrue(self.chat(user("Say hi."), max_tokens=3).choices[0].message.content)

    def test_models_lists_the_served_model(self):
        models = self.client.models.list().data
        self.assertEqual(len(models), 1)
        self.assertTrue(models[0].id.startswith("SmolLM2"))

    def test_chat_streamed_equals_not_streamed(self):
        r = self.chat(user("What is the capital of France?"))
        self.assertEqual(r.object, "chat.completion")
        self.assertEqual(r.choices[0].message.role, "assistant")
        text = r.choices[0].message.content
        self.assertTrue(text)
        self.assertIn(r.choices[0].finish_reason, ("stop", "length"))
        self.assertEqual(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens)
        self.assertLessEqual(r.usage.completion_tokens, 24)
        streamed, finish = self.stream_text(user("What is the capital of France?"))
        self.assertEqual(streamed, text)
        self.assertEqual(finish, r.choices[0].finish_reason)

    def test_stream_usage_chunk(self):
        chunks = list(self.client.chat.completions.create(
            model=self.model, messages=user("Hello!"), stream=True, max_tokens=5, temperature=0,
            stream_options={"include_usage": True}))
        self.assertEqual(chunks[0].choices[0].delta.role, "assistant")
        self.assertEqual(chunks[-1].choices, [])
        self.assertEqual(chunks[-1].usage.completion_tokens, 5)

    def test_completions_streamed_and_not_and_echo(self):
        prompt = "The capital of France is"
        r = self.client.completions.create(model=self.model, prompt=prompt, max_tokens=8, temperature=0)
        self.assertEqual(r.object, "text_completion")
        text = r.choices[0].text
        self.assertTrue(text)
        streamed = "".join(c.choices[0].text for c in self.client.completions.create(
            model=self.model, prompt=prompt, max_tokens=8, temperature=0, stream=True) if c.choices)
        self.assertEqual(streamed, text)
        echoed = self.client.completions.create(model=self.model, prompt=prompt, max_tokens=8, temperature=0, echo=True)
        self.assertEqual(echoed.choices[0].text, prompt + text)
        two = self.client.completions.create(model=self.model, prompt=[prompt, "1, 2, 3,"], max_tokens=8, temperature=0)
        self.assertEqual([c.index for c in two.choices], [0, 1])
        self.assertEqual(two.choices[0].text, text)

    def test_seed_determinism_and_n(self):
        kw = dict(temperature=1.0, max_tokens=30, seed=1234)
        a = self.chat(user("Tell me a story."), **kw).choices[0].message.content
        b = self.chat(user("Tell me a story."), **kw).choices[0].message.content
        self.assertEqual(a, b)
        kw["seed"] = 99
        self.assertNotEqual(self.chat(user("Tell me a story."), **kw).choices[0].message.content, a)
        r = self.chat(user("Tell me a story."), n=3, **dict(kw, seed=1234))
        self.assertEqual([c.index for c in r.choices], [0, 1, 2])
        self.assertEqual(r.choices[0].message.content, a)  # choice i uses seed + i
        self.assertEqual(len({c.message.content for c in r.choices}), 3)

    def test_logprobs(self):
        r = self.chat(user("Name a color."), logprobs=True, top_logprobs=3, max_tokens=6)
        entries = r.choices[0].logprobs.content
        self.assertEqual(len(entries), r.usage.completion_tokens)
        for e in entries:  # greedy: the chosen token is the most likely one
            self.assertLessEqual(e.logprob, 0.0)
            self.assertEqual(len(e.top_logprobs), 3)
            self.assertEqual(e.token, e.top_logprobs[0].token)
            self.assertAlmostEqual(e.logprob, e.top_logprobs[0].logprob, places=5)
            self.assertGreaterEqual(e.top_logprobs[0].logprob, e.top_logprobs[1].logprob)
        self.assertTrue(r.choices[0].message.content.startswith(entries[0].token.strip()[:1]))
        c = self.client.completions.create(model=self.model, prompt="One, two,", max_tokens=4, temperature=0, logprobs=2)
        lp = c.choices[0].logprobs
        self.assertEqual(len(lp.tokens), 4)
        self.assertEqual("".join(lp.tokens), c.choices[0].text)
        self.assertEqual(len(lp.top_logprobs[0]), 2)

    def test_32_concurrent_streams_equal_their_solo_outputs(self):
        prompts = [user(f"Write the number {i} in words, then count to {i + 3}.") for i in range(32)]
        solo = [self.chat(p, max_tokens=20).choices[0].message.content for p in prompts]
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            together = list(pool.map(lambda p: self.stream_text(p, max_tokens=20)[0], prompts))
        for i in range(32):
            self.assertEqual(together[i], solo[i], f"client {i}")

    def test_prefix_reuse_of_a_long_system_prompt(self):
        facts = " ".join(f"Fact {i}: {i} times {i} is {i * i}." for i in range(90))
        system = [{"role": "system", "content": "You answer from these facts only. " + facts}]
        before = self.server.metrics()
        t0 = time.time()
        first = self.chat(system + user("What is 7 times 7?"), max_tokens=1)
        t1 = time.time()
        second = self.chat(system + user("What is 8 times 8?"), max_tokens=1)
        t2 = time.time()
        after = self.server.metrics()
        self.assertGreater(first.usage.prompt_tokens, 1000)
        hit = second.usage.prompt_tokens_details.cached_tokens
        self.assertGreater(hit, first.usage.prompt_tokens - 40)
        self.assertEqual(after["ponder_prefix_cache_hits_total"] - before["ponder_prefix_cache_hits_total"], 1)
        self.assertGreaterEqual(after["ponder_prefix_cache_hit_tokens_total"] - before["ponder_prefix_cache_hit_tokens_total"], hit)
        print(f"\n  prefix reuse: {first.usage.prompt_tokens}-token prompt answered in {1000 * (t1 - t0):.0f} ms, "
              f"again with {hit} cached tokens in {1000 * (t2 - t1):.0f} ms", file=sys.stderr)

    def test_errors_keep_the_server_serving(self):
        import openai
        anonymous = Server.__new__(Server)
        anonymous.url, anonymous.api_key = self.server.url, None
        cases = [
            ("no API key", lambda: anonymous.request("POST", "/v1/chat/completions", {"messages": user("hi")}), 401, "invalid_api_key"),
            ("wrong API key", lambda: self.server.request("POST", "/v1/chat/completions", {"messages": user("hi")},
                                                          headers={"Authorization": "Bearer nope"}), 401, "invalid_api_key"),
            ("malformed JSON", lambda: self.server.request("POST", "/v1/chat/completions", raw=b'{"messages": [}'), 400, None),
            ("not an object", lambda: self.server.request("POST", "/v1/chat/completions", [1, 2]), 400, None),
            ("wrong type", lambda: self.server.request("POST", "/v1/chat/completions",
                                                       {"messages": user("hi"), "temperature": "hot"}), 400, None),
            ("top_p out of range", lambda: self.server.request("POST", "/v1/chat/completions",
                                                               {"messages": user("hi"), "top_p": 2}), 400, None),
            ("bad role", lambda: self.server.request("POST", "/v1/chat/completions",
                                                     {"messages": [{"role": "wizard", "content": "hi"}]}), 400, None),
            ("unknown model", lambda: self.server.request("POST", "/v1/chat/completions",
                                                          {"model": "gpt-9", "messages": user("hi")}), 400, "model_not_found"),
            ("prompt longer than the context", lambda: self.server.request(
                "POST", "/v1/completions", {"prompt": "word " * 9000, "max_tokens": 1}), 400, "context_length_exceeded"),
            ("n = 0", lambda: self.server.request("POST", "/v1/chat/completions", {"messages": user("hi"), "n": 0}), 400, None),
            ("n = 100", lambda: self.server.request("POST", "/v1/chat/completions", {"messages": user("hi"), "n": 100}), 400, None),
            ("max_tokens = 0", lambda: self.server.request("POST", "/v1/completions", {"prompt": "a", "max_tokens": 0}), 400, None),
            ("max_tokens too large", lambda: self.server.request("POST", "/v1/completions",
                                                                 {"prompt": "a", "max_tokens": 10 ** 9}), 400, None),
            ("oversized body", lambda: self.server.request("POST", "/v1/chat/completions", raw=b"x" * (9 << 20)), 413, None),
            ("unknown path", lambda: self.server.request("GET", "/v2/everything"), 404, None),
            ("wrong method", lambda: self.server.request("GET", "/v1/chat/completions"), 405, None),
        ]
        for name, call, status, code in cases:
            with self.subTest(name):
                got, _, body = call()
                self.assertEqual(got, status, body)
                error = json.loads(body)["error"]
                self.assertTrue(error["message"])
                if code:
                    self.assertEqual(error["code"], code)
                self.assert_still_serving()
        with self.assertRaises(openai.BadRequestError) as e:
            self.chat(user("hi"), temperature=5)
        self.assertIn("temperature", str(e.exception))
        with self.assertRaises(openai.AuthenticationError):
            openai.OpenAI(base_url=self.server.url + "/v1", api_key="wrong", max_retries=0).models.list()
        self.assert_still_serving()


class ScriptedServeTest(unittest.TestCase):
    """The scripted reasoning models: what comes out is known token by token."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.tool_caller = scripted_model.write_tool_caller(os.path.join(cls.dir.name, "tool-caller.gguf"))
        cls.overthinker = scripted_model.write_overthinker(os.path.join(cls.dir.name, "overthinker.gguf"))

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def serve(self, model, *args):
        server = Server(PONDER, model, "--backend", "ref", *args)
        self.addCleanup(server.stop)
        return server, server.client()

    def test_reasoning_and_tool_calls(self):
        server, client = self.serve(self.tool_caller)
        r = client.chat.completions.create(model="tool-caller", messages=user("Weather in Paris?"), tools=[WEATHER_TOOL])
        m = r.choices[0].message
        self.assertEqual(m.model_extra["reasoning_content"], scripted_model.THOUGHT)
        self.assertFalse(m.content)
        self.assertEqual(r.choices[0].finish_reason, "tool_calls")
        self.assertEqual(len(m.tool_calls), 1)
        self.assertEqual(m.tool_calls[0].type, "function")
        self.assertEqual(m.tool_calls[0].function.name, "get_weather")
        self.assertEqual(json.loads(m.tool_calls[0].function.arguments), {"city": "Paris"})
        self.assertGreater(r.usage.completion_tokens_details.reasoning_tokens, 0)

        reasoning, content, calls, finish = "", "", [], None
        for chunk in client.chat.completions.create(model="tool-caller", messages=user("Weather in Paris?"),
                                                    tools=[WEATHER_TOOL], stream=True):
            for c in chunk.choices:
                reasoning += (c.delta.model_extra or {}).get("reasoning_content") or ""
                content += c.delta.content or ""
                calls += c.delta.tool_calls or []
                finish = c.finish_reason or finish
        self.assertEqual(reasoning, scripted_model.THOUGHT)
        self.assertEqual(content.strip(), "")
        self.assertEqual([(t.index, t.function.name, json.loads(t.function.arguments)) for t in calls],
                         [(0, "get_weather", {"city": "Paris"})])
        self.assertEqual(finish, "tool_calls")

        # Without tools (or with tool_choice none) the call stays text in the answer.
        r = client.chat.completions.create(model="tool-caller", messages=user("Weather?"), tools=[WEATHER_TOOL], tool_choice="none")
        self.assertIn("<tool_call>", r.choices[0].message.content)
        self.assertIsNone(r.choices[0].message.tool_calls)

    def test_thinking_budget(self):
        server, client = self.serve(self.overthinker)
        r = client.chat.completions.create(model="overthinker", messages=user("Think hard."), max_tokens=400,
                                           extra_body={"thinking_budget": 6})
        m = r.choices[0].message
        self.assertEqual(m.content, scripted_model.ANSWER)
        self.assertTrue(m.model_extra["reasoning_content"].startswith(scripted_model.LOOP.strip() + scripted_model.LOOP * 5))
        self.assertEqual(r.choices[0].finish_reason, "stop")
        self.assertGreater(r.usage.completion_tokens_details.reasoning_tokens, 6)
        r = client.chat.completions.create(model="overthinker", messages=user("Think hard."), max_tokens=30)
        self.assertEqual(r.choices[0].finish_reason, "length")
        self.assertEqual(r.choices[0].message.content, "")

    def test_disconnected_client_frees_its_blocks(self):
        server, _ = self.serve(self.overthinker, "--ctx", "65536")
        sock = socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
        body = json.dumps({"messages": user("Think forever."), "stream": True, "max_tokens": 60000}).encode()
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.assertIn(b"200 OK", sock.recv(4096))
        deadline = time.time() + 10
        while time.time() < deadline and server.metrics()["ponder_kv_blocks_used"] == 0:
            time.sleep(0.01)
        self.assertGreater(server.metrics()["ponder_kv_blocks_used"], 0)
        sock.close()
        deadline = time.time() + 10
        while time.time() < deadline and server.metrics()["ponder_kv_blocks_used"] > 0:
            time.sleep(0.05)
        m = server.metrics()
        self.assertEqual(m["ponder_kv_blocks_used"], 0)
        self.assertEqual(m["ponder_jobs_in_flight"], 0)
        self.assertLess(m["ponder_generated_tokens_total"], 60000)

    def test_kv_exhaustion_queues_rather_than_fails(self):
        # A context of 256 tokens holds one of these 160-token answers at a time.
        server, client = self.serve(self.overthinker, "--ctx", "256", "--parallel", "8")
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda i: client.chat.completions.create(
                model="overthinker", messages=user(f"Request {i}"), max_tokens=150), range(4)))
        for r in results:
            self.assertEqual(r.choices[0].finish_reason, "length")
            self.assertEqual(r.usage.completion_tokens, 150)
        # Four choices of one request start together for certain (separate requests may not
        # overlap: the scripted model answers in milliseconds), so the cache runs out mid-answer
        # and the engine preempts rather than fails.
        r = client.chat.completions.create(model="overthinker", messages=user("Together"), max_tokens=150, n=4)
        self.assertEqual([c.finish_reason for c in r.choices], ["length"] * 4)
        self.assertEqual(r.usage.completion_tokens, 600)
        self.assertGreater(server.metrics()["ponder_preemptions_total"], 0)

    def test_full_queue_answers_429(self):
        server, client = self.serve(self.overthinker, "--ctx", "65536", "--parallel", "1", "--max-queue", "1")
        import openai
        streams = [client.chat.completions.create(model="overthinker", messages=user(f"Long {i}"), stream=True,
                                                  max_tokens=60000) for i in range(2)]
        next(iter(streams[0]))  # running
        status, headers, body = server.request("POST", "/v1/chat/completions", {"messages": user("one more")})
        self.assertEqual(status, 429, body)
        self.assertEqual(headers.get("Retry-After"), "1")
        with self.assertRaises(openai.RateLimitError):
            client.chat.completions.create(model="overthinker", messages=user("and another"))
        for s in streams:
            s.close()

    def sigterm_mid_stream(self, max_tokens, *args):
        """Starts a stream, sends SIGTERM after its first chunk, reads it to the end: (its finish
        reason, the server's exit code)."""
        server = Server(PONDER, self.overthinker, "--backend", "ref", *args)
        stream = server.client().chat.completions.create(model="overthinker", messages=user("Think."), stream=True,
                                                         max_tokens=max_tokens)
        it = iter(stream)
        next(it)
        server.proc.send_signal(15)
        finish = None
        for chunk in it:
            for c in chunk.choices:
                finish = c.finish_reason or finish
        code = server.proc.wait(60)
        server.stop()
        return finish, code

    def test_sigterm_finishes_work_in_flight_and_exits_0(self):
        finish, code = self.sigterm_mid_stream(2000, "--ctx", "8192")
        self.assertEqual(finish, "length")  # the request ran to its end
        self.assertEqual(code, 0)

    def test_sigterm_cancels_what_outlives_the_grace_period(self):
        finish, code = self.sigterm_mid_stream(60000, "--ctx", "65536", "--shutdown-grace", "1")
        self.assertEqual(finish, "cancelled")
        self.assertEqual(code, 0)

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--ponder", required=True)
    args, rest = ap.parse_known_args()
    PONDER = os.path.abspath(args.ponder)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
