// The chat page: one conversation with the served model through POST /v1/chat/completions,
// streamed. The thought (reasoning_content) shows in a fold apart from the answer; only answers
// go back into the turns, as the chat templates of reasoning models expect. Model text is only
// ever set as textContent, never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const turns = [];  // {role, content} of finished turns
let modelId = null;
let controller = null;  // the request in flight (Stop aborts it; the server then cancels it)

for (const id of ["budget", "max-tokens", "temperature", "system", "api-key"]) {
  const saved = localStorage.getItem("ponder." + id);
  if (saved !== null) $(id).value = saved;
  $(id).addEventListener("change", () => {
    localStorage.setItem("ponder." + id, $(id).value);
    if (id === "api-key") loadModel();
  });
}

function requestHeaders() {
  const h = { "Content-Type": "application/json" };
  const key = $("api-key").value.trim();
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

async function errorText(response) {
  try {
    const j = await response.json();
    return (j.error && j.error.message) || `${response.status} ${response.statusText}`;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

async function loadModel() {
  modelId = null;
  try {
    const r = await fetch("/v1/models", { headers: requestHeaders() });
    if (!r.ok) {
      $("model").textContent = r.status === 401 ? "needs an API key (Settings)" : await errorText(r);
      if (r.status === 401) $("settings").open = true;
      return;
    }
    const j = await r.json();
    modelId = j.data.length ? j.data[0].id : null;
    $("model").textContent = modelId || "no model";
  } catch (e) {
    $("model").textContent = "server unreachable: " + e.message;
  }
}

function element(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function addMessage(role) {
  const m = element("section", "message " + role);
  m.append(element("div", "role", role));
  $("messages").append(m);
  return m;
}

// Keeps the newest text in view while the reader is at the bottom of the page, once per frame.
let followPending = false;
function followOutput() {
  if (followPending) return;
  const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
  if (!atBottom) return;
  followPending = true;
  requestAnimationFrame(() => {
    followPending = false;
    window.scrollTo(0, document.body.scrollHeight);
  });
}

function setBusy(busy) {
  $("send").hidden = busy;
  $("stop").hidden = !busy;
  $("status").textContent = busy ? "generating…" : "";
}

function numberSetting(id, parse) {
  const v = parse($(id).value);
  return Number.isFinite(v) ? v : undefined;
}

function requestBody(text) {
  const messages = [];
  const system = $("system").value.trim();
  if (system) messages.push({ role: "system", content: system });
  messages.push(...turns, { role: "user", content: text });
  const body = { model: modelId, messages, stream: true, stream_options: { include_usage: true } };
  const budget = numberSetting("budget", parseInt);
  if (budget > 0) body.thinking_budget = budget;
  const maxTokens = numberSetting("max-tokens", parseInt);
  if (maxTokens > 0) body.max_tokens = maxTokens;
  const temperature = numberSetting("temperature", parseFloat);
  if (temperature !== undefined) body.temperature = temperature;
  return body;
}

// Calls onChunk for every JSON chunk of a server-sent event stream.
async function readEvents(response, onChunk) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data && data !== "[DONE]") onChunk(JSON.parse(data));
      }
    }
  }
}

async function send(text) {
  if (!modelId) await loadModel();
  if (!modelId) return;
  addMessage("user").append(element("div", "text", text));
  const body = requestBody(text);
  const bot = addMessage("assistant");
  const fold = element("details", "thinking");
  const foldTitle = element("summary", "", "Thinking…");
  const thought = element("div", "thinking-text", "");
  fold.append(foldTitle, thought);
  fold.open = true;
  fold.hidden = true;
  const answer = element("div", "text", "");
  const stats = element("div", "stats", "");
  bot.append(fold, answer, stats);

  let reasoning = "", content = "", usage = null, finish = null, firstAt = null;
  const start = performance.now();
  controller = new AbortController();
  setBusy(true);
  try {
    const r = await fetch("/v1/chat/completions",
      { method: "POST", headers: requestHeaders(), body: JSON.stringify(body), signal: controller.signal });
    if (!r.ok) throw new Error(await errorText(r));
    await readEvents(r, (chunk) => {
      if (chunk.error) throw new Error(chunk.error.message);
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices && chunk.choices[0];
      if (!choice) return;
      if (choice.finish_reason) finish = choice.finish_reason;
      const delta = choice.delta || {};
      // New text is appended as text nodes: constant work per token, however long the thought.
      if (delta.reasoning_content) {
        firstAt = firstAt || performance.now();
        reasoning += delta.reasoning_content;
        thought.append(delta.reasoning_content);
        fold.hidden = false;
      }
      if (delta.content) {
        firstAt = firstAt || performance.now();
        if (!content) fold.open = false;  // the answer has begun: fold the thought away
        content += delta.content;
        answer.append(delta.content);
      }
      followOutput();
    });
  } catch (e) {
    if (e.name === "AbortError") {
      finish = "stopped";
    } else {
      bot.classList.add("error");
      bot.append(element("div", "text", "Error: " + e.message));
      finish = "error";
    }
  } finally {
    controller = null;
    setBusy(false);
  }
  if (reasoning) {
    const n = usage && usage.completion_tokens_details ? usage.completion_tokens_details.reasoning_tokens : null;
    foldTitle.textContent = n ? `Thought for ${n} tokens` : "Thought";
  }
  const parts = [];
  if (usage) {
    const seconds = (performance.now() - (firstAt || start)) / 1000;
    parts.push(`${usage.completion_tokens} tokens`);
    if (seconds > 0 && usage.completion_tokens > 1) parts.push(`${(usage.completion_tokens / seconds).toFixed(1)} tokens/s`);
    if (firstAt) parts.push(`first token after ${Math.round(firstAt - start)} ms`);
  }
  if (finish && finish !== "stop") parts.push(finish);
  stats.textContent = parts.join(" · ");
  if (finish !== "error") turns.push({ role: "user", content: text }, { role: "assistant", content });
}

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("input").value.trim();
  if (!text || controller) return;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $("composer").requestSubmit();
  }
});
$("stop").addEventListener("click", () => controller && controller.abort());
$("new-chat").addEventListener("click", () => {
  if (controller) controller.abort();
  turns.length = 0;
  $("messages").replaceChildren();
  $("input").focus();
});

loadModel();
