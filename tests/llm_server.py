"""A small OpenAI- and Anthropic-compatible chat server on 127.0.0.1, for tests that run real
promptfoo providers (``openai:chat:*``, ``anthropic:messages:*``) without a paid API.

- ``POST /v1/chat/completions``: OpenAI's shape, ``usage`` {prompt_tokens, completion_tokens,
  total_tokens};
- ``POST /v1/messages``: Anthropic's shape, ``usage`` {input_tokens, output_tokens};
- ``POST /openai/deployments/<name>/chat/completions?api-version=...``: Azure OpenAI's (OpenAI's
  shape).

The answer restates the last user message (``Hi! You said: ...``), so a test's assertions can
check that the rendered prompt reached the model. Token counts are about four characters a
token of what was sent and answered: they differ per request, so a test can tell the server's
counts from any other. Every request is recorded (path, headers, JSON body, the usage answered
or the status failed with). ``fail(status, times, when)`` makes the next ``times`` requests
(all, when ``times`` is None) whose body contains ``when`` answer ``status`` (429 with
``Retry-After: 0``, so promptfoo's retries are quick).
"""
from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPLY_PREFIX = "Hi! You said: "


def tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def message_text(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 200
    usage: dict[str, int] = field(default_factory=dict)


class LLMServer:
    """``with LLMServer() as server:``; ``server.base_url`` is ``http://127.0.0.1:PORT``."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._failures: list[list[Any]] = []  # [status, times left (None: always), text the body contains]
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_url(self) -> str:
        return self.base_url + "/v1"

    def fail(self, status: int, times: int | None = 1, when: str = "") -> None:
        with self._lock:
            self._failures.append([status, times, when])

    def sent(self, when: str) -> list[Recorded]:
        """The requests whose body contains ``when``."""
        return [r for r in self.requests if when in json.dumps(r.body, ensure_ascii=False)]

    def answered(self) -> list[Recorded]:
        return [r for r in self.requests if r.status == 200]

    def __enter__(self) -> LLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    # ------------------------------------------------------------ serving

    def _next_failure(self, body: Any) -> int | None:
        text = json.dumps(body, ensure_ascii=False)
        with self._lock:
            for rule in self._failures:
                status, times, when = rule
                if when in text and (times is None or times > 0):
                    rule[1] = None if times is None else times - 1
                    return int(status)
        return None

    def _record(self, entry: Recorded) -> None:
        with self._lock:
            self.requests.append(entry)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (quiet tests)
                pass

            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"null")
                except ValueError:
                    body = None
                entry = Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                failure = server._next_failure(body)
                if failure is not None:
                    entry.status = failure
                    server._record(entry)
                    return self._send(failure, {"error": {"message": f"test server says {failure}", "type": "server_error"}},
                                      {"Retry-After": "0", "retry-after-ms": "0"} if failure == 429 else {})
                path = self.path.split("?")[0]
                azure = path.startswith("/openai/deployments/") and path.endswith("/chat/completions")
                if (path == "/v1/chat/completions" or azure) and isinstance(body, dict):
                    answer, entry.usage = server._openai(body)
                elif path == "/v1/messages" and isinstance(body, dict):
                    answer, entry.usage = server._anthropic(body)
                else:
                    entry.status = 404
                    server._record(entry)
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                server._record(entry)
                self._send(200, answer)

            def _send(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(raw)

        return Handler

    @staticmethod
    def _reply(messages: list) -> str:
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        return REPLY_PREFIX + (message_text(users[-1].get("content")) if users else "")

    def _openai(self, body: dict) -> tuple[dict, dict[str, int]]:
        messages = body.get("messages") or []
        text = self._reply(messages)
        sent = "".join(message_text(m.get("content")) for m in messages if isinstance(m, dict))
        usage = {"prompt_tokens": tokens(sent), "completion_tokens": tokens(text)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return {"id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": 1764579600,
                "model": body.get("model"), "usage": usage,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}]}, usage

    def _anthropic(self, body: dict) -> tuple[dict, dict[str, int]]:
        messages = body.get("messages") or []
        text = self._reply(messages)
        system = message_text(body.get("system"))
        sent = system + "".join(message_text(m.get("content")) for m in messages if isinstance(m, dict))
        usage = {"input_tokens": tokens(sent), "output_tokens": tokens(text)}
        return {"id": f"msg_{len(self.requests)}", "type": "message", "role": "assistant", "model": body.get("model"),
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
                "usage": usage}, usage
