"""A stand-in for the part of GitHub's REST API the report comment uses, on 127.0.0.1.

It keeps issue comments per pull request (list with per_page/page, create, edit), records every
request (method, path, headers, JSON body), and answers with a chosen status when told to
(``refuse``). Real HTTP: the code under test runs its own urllib calls against it.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict  # names in lower case (HTTP's are case-insensitive)
    body: object


@dataclass
class GitHubStub:
    comments: dict = field(default_factory=dict)   # pull request number -> [comment]
    requests: list = field(default_factory=list)
    refuse: tuple[int, str] | None = None          # (status, message) for every request
    next_id: int = 1000

    def start(self) -> str:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's names)
                stub.handle(self)

            do_POST = do_PATCH = do_GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, number: int, body: str, login: str = "someone") -> dict:
        comment = {"id": self.next_id, "body": body, "user": {"login": login},
                   "html_url": f"https://github.example/pull/{number}#issuecomment-{self.next_id}"}
        self.next_id += 1
        self.comments.setdefault(number, []).append(comment)
        return comment

    def handle(self, http: BaseHTTPRequestHandler) -> None:
        length = int(http.headers.get("Content-Length") or 0)
        raw = http.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        self.requests.append(Recorded(http.command, http.path, {k.lower(): v for k, v in http.headers.items()}, body))
        if self.refuse:
            return self._answer(http, self.refuse[0], {"message": self.refuse[1]})
        status, answer = self._route(http.command, urlsplit(http.path), body)
        self._answer(http, status, answer)

    def _route(self, method: str, url, body) -> tuple[int, object]:
        listing = re.fullmatch(r"/repos/[^/]+/[^/]+/issues/(\d+)/comments", url.path)
        if listing and method == "GET":
            query = parse_qs(url.query)
            per_page, page = int(query.get("per_page", ["30"])[0]), int(query.get("page", ["1"])[0])
            every = self.comments.get(int(listing[1]), [])
            return 200, every[(page - 1) * per_page:page * per_page]
        if listing and method == "POST":
            return 201, self.add(int(listing[1]), body["body"], login="github-actions[bot]")
        edit = re.fullmatch(r"/repos/[^/]+/[^/]+/issues/comments/(\d+)", url.path)
        if edit and method == "PATCH":
            for comment in (c for cs in self.comments.values() for c in cs):
                if comment["id"] == int(edit[1]):
                    comment["body"] = body["body"]
                    return 200, comment
        return 404, {"message": "Not Found"}

    @staticmethod
    def _answer(http: BaseHTTPRequestHandler, status: int, answer: object) -> None:
        data = json.dumps(answer).encode("utf-8")
        http.send_response(status)
        http.send_header("Content-Type", "application/json")
        http.send_header("Content-Length", str(len(data)))
        http.end_headers()
        http.wfile.write(data)
