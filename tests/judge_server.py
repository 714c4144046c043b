"""An OpenAI-compatible chat-completions server on 127.0.0.1 for the judge tests.

Each test scripts it with a handler ``(request_json, call_number) -> Reply``; the real ``openai`` client
(sync or async) talks HTTP to it. The server records every request and the peak number of requests in
flight, so tests can check what was sent and how much concurrency there was.
"""

from __future__ import annotations

import json
import re
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict -> JSON; str -> sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def completion(content: str | None, *, refusal: str | None = None, finish_reason: str = "stop",
               prompt_tokens: int = 120, completion_tokens: int = 40, model: str = "judge-test") -> Reply:
    """A chat.completion body with one choice."""
    return Reply(body={
        "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "finish_reason": finish_reason, "logprobs": None,
                     "message": {"role": "assistant", "content": content, "refusal": refusal}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    })


def error(status: int, message: str, headers: dict[str, str] | None = None, delay: float = 0.0) -> Reply:
    return Reply(status=status, body={"error": {"message": message, "type": "test_error", "code": None}},
                 headers=headers or {}, delay=delay)


_ANSWER_RE = re.compile(r"<<<ANSWER (\w+)>>>\n(.*)\n<<<END ANSWER \1>>>", re.DOTALL)


def answer_of(request: dict[str, Any]) -> str:
    """The candidate's answer as the judge prompt fenced it."""
    for msg in request["messages"]:
        if msg["role"] == "user":
            m = _ANSWER_RE.search(msg["content"])
            if m:
                return m.group(2)
    raise AssertionError("no fenced answer in the request")


class JudgeServer:
    def __init__(self, handler: Callable[[dict[str, Any], int], Reply]):
        self.handler = handler
        self.requests: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.inflight = 0
        self.max_inflight = 0
        self._lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # headers and body leave in one write (no Nagle/delayed-ACK stalls)

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _wait(self, seconds: float) -> bool:
                """Sleep, but notice a client that hangs up (so in-flight counts stay honest)."""
                end = time.monotonic() + seconds
                while (left := end - time.monotonic()) > 0:
                    ready, _, _ = select.select([self.connection], [], [], min(left, 0.02))
                    if ready and not self.connection.recv(1, socket.MSG_PEEK):
                        self.close_connection = True
                        return False
                return True

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("content-length", 0))
                req = json.loads(self.rfile.read(n) or b"{}")
                with outer._lock:
                    outer.requests.append(req)
                    outer.times.append(time.monotonic())
                    call = len(outer.requests)
                    outer.inflight += 1
                    outer.max_inflight = max(outer.max_inflight, outer.inflight)
                try:
                    if not self.path.endswith("/chat/completions"):
                        reply = error(404, f"no route {self.path}")
                    else:
                        reply = outer.handler(req, call)
                    if reply.delay and not self._wait(reply.delay):
                        return  # the client gave up while we were "thinking" (timeout test)
                    data = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                    raw = data.encode()
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(raw)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)
                finally:
                    with outer._lock:
                        outer.inflight -= 1

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # a burst of concurrent clients must not overflow the accept backlog

        self.httpd = Server(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> JudgeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/v1"


def main() -> None:
    """Serve one canned reply after a fixed latency in its own process (for tests/bench/bench_judge.py)."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    ap.add_argument("--content", required=True, help="the assistant message content to return")
    args = ap.parse_args()

    def handler(req: dict[str, Any], n: int) -> Reply:
        rep = completion(args.content)
        rep.delay = args.latency
        return rep

    srv = JudgeServer(handler)
    print(srv.base_url, flush=True)
    try:
        srv.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.httpd.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
