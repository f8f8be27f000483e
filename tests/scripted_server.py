"""A real OpenAI-compatible HTTP server whose replies are scripted by the test.

Serves `POST /v1/chat/completions` (plain and streaming) and `GET /v1/models` on 127.0.0.1 at
a free port, one thread per connection, so it can hold many slow requests at once (latency
benches at concurrency 32+). Each reply comes from, in order: the queue filled by `enqueue`,
else the function given to `script`, else an echo of the last user message.

    with ScriptedServer() as srv:
        srv.script(lambda req: Reply(text="42", delay_s=0.1))
        srv.enqueue(Reply.rate_limited(retry_after=1), Reply.error(500))
        client = OpenAI(base_url=srv.url, api_key="x")
        ...
        srv.served, srv.requests[0].body, srv.max_in_flight

A script function receives the request JSON and returns a `Reply`, a `str` (reply text) or a
`dict` (sent as the JSON body as is).
"""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Reply:
    """What the server answers to one request."""

    text: str = "ok"
    status: int = 200
    delay_s: float = 0.0  # before the first byte
    chunk_delay_s: float = 0.0  # between streamed pieces
    finish_reason: str = "stop"
    tokens_in: int | None = None  # default: a word count of the prompt
    tokens_out: int | None = None  # default: a word count of the reply
    headers: dict[str, str] = field(default_factory=dict)
    body: str | bytes | dict | None = None  # sent verbatim instead of a completion
    model: str | None = None  # default: the requested model

    @classmethod
    def rate_limited(cls, retry_after: float | str | None = 1, status: int = 429) -> "Reply":
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        return cls(status=status, headers=headers,
                   body={"error": {"message": "rate limited", "type": "rate_limit_error"}})

    @classmethod
    def error(cls, status: int = 500, message: str = "internal error") -> "Reply":
        return cls(status=status, body={"error": {"message": message, "type": "server_error"}})

    @classmethod
    def bad_request(cls, message: str = "bad request") -> "Reply":
        return cls(status=400,
                   body={"error": {"message": message, "type": "invalid_request_error"}})

    @classmethod
    def malformed(cls) -> "Reply":
        return cls(body=b'{"id": "x", "choices": [{"message": {"content": "tru')

    @classmethod
    def truncated(cls, text: str = "this reply was cut", tokens_out: int | None = None) -> "Reply":
        return cls(text=text, finish_reason="length", tokens_out=tokens_out)


@dataclass
class Request:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any] | None
    received_at: float  # time.monotonic() on arrival
    answered_at: float | None = None
    status: int | None = None


def _words(text: str) -> int:
    return max(1, len(text.split()))


def _prompt_tokens(body: dict) -> int:
    total = 0
    for message in body.get("messages", []):
        content = message.get("content") or ""
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        total += _words(content) + 3
    return total


def _echo(body: dict) -> Reply:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return Reply(text=str(users[-1].get("content", "")) if users else "ok")


class ScriptedServer:
    """Start with `with ScriptedServer() as srv` (or the `scripted_server` pytest fixture)."""

    def __init__(self, model: str = "scripted-model") -> None:
        self.model = model
        self.requests: list[Request] = []
        self.served = 0  # chat completion requests answered (any status)
        self.in_flight = 0
        self.max_in_flight = 0
        # Response formats answered with 400, to test fallbacks ({"json_schema"}, ...).
        self.refuse_response_formats: set[str] = set()
        # What GET /v1/models lists (None: just `model`), and its status (401: a refused key).
        self.models: list[str] | None = None
        self.models_status = 200
        self._queue: deque[Reply | str | dict] = deque()
        self._fn: Callable[[dict], Reply | str | dict] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting ---------------------------------------------------------------------
    def script(self, fn: Callable[[dict], Reply | str | dict] | None) -> "ScriptedServer":
        self._fn = fn
        return self

    def enqueue(self, *replies: Reply | str | dict) -> "ScriptedServer":
        with self._lock:
            self._queue.extend(replies)
        return self

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._queue.clear()
            self.served = self.in_flight = self.max_in_flight = 0
        self._fn = None
        self.refuse_response_formats = set()

    @property
    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _next_reply(self, body: dict) -> Reply | dict:
        fmt = (body.get("response_format") or {}).get("type")
        if fmt in self.refuse_response_formats:
            return Reply.bad_request(f"response_format {fmt} is not supported by this server")
        with self._lock:
            queued = self._queue.popleft() if self._queue else None
        reply = queued if queued is not None else (self._fn(body) if self._fn else _echo(body))
        if isinstance(reply, str):
            return Reply(text=reply)
        return reply

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> "ScriptedServer":
        handler = type("Handler", (_Handler,), {"owner": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler, bind_and_activate=False)
        httpd.daemon_threads = True
        httpd.request_queue_size = 256  # many clients connect at once in the benches
        httpd.allow_reuse_address = True
        httpd.server_bind()
        httpd.server_activate()
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="scripted-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes handlers sleeping in a delay
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "ScriptedServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stop.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    owner: ScriptedServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus the
    # client's delayed ACK add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _record(self, body: dict | None) -> Request:
        request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                          body, time.monotonic())
        with self.owner._lock:
            self.owner.requests.append(request)
        return request

    def _send(self, request: Request, status: int, payload: bytes, headers: dict | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)
        request.status, request.answered_at = status, time.monotonic()

    def do_GET(self) -> None:
        request = self._record(None)
        if self.path.rstrip("/") == "/v1/models" and self.owner.models_status != 200:
            self._send(request, self.owner.models_status, b'{"error": {"message": "bad key"}}')
        elif self.path.rstrip("/") == "/v1/models":
            ids = self.owner.models if self.owner.models is not None else [self.owner.model]
            data = {"object": "list", "data": [
                {"id": i, "object": "model", "created": 0, "owned_by": "tests"} for i in ids]}
            self._send(request, 200, json.dumps(data).encode())
        else:
            self._send(request, 404, b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            request = self._record(None)
            self._send(request, 400, b'{"error": {"message": "request body is not JSON"}}')
            return
        request = self._record(body)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(request, 404, b'{"error": {"message": "not found"}}')
            return
        owner = self.owner
        with owner._lock:
            owner.in_flight += 1
            owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
        answering = False
        try:
            reply = owner._next_reply(body)
            if isinstance(reply, dict):
                reply = Reply(body=reply)
            owner.sleep(reply.delay_s)
            # Answered, and no longer in flight, before the answer goes out: a client that has
            # it may look at these counters or send its next request at once.
            with owner._lock:
                owner.in_flight -= 1
                owner.served += 1
            answering = True
            if reply.body is not None or reply.status != 200:
                payload = reply.body if reply.body is not None else {"error": {"message": "error"}}
                if isinstance(payload, dict):
                    payload = json.dumps(payload)
                if isinstance(payload, str):
                    payload = payload.encode()
                self._send(request, reply.status, payload, reply.headers)
            elif body.get("stream"):
                self._stream(request, body, reply)
            else:
                self._send(request, 200, json.dumps(self._completion(body, reply)).encode(),
                           reply.headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test): nothing to answer
        finally:
            if not answering:
                with owner._lock:
                    owner.in_flight -= 1
                    owner.served += 1

    def _usage(self, body: dict, reply: Reply) -> dict:
        tokens_in = reply.tokens_in if reply.tokens_in is not None else _prompt_tokens(body)
        tokens_out = reply.tokens_out if reply.tokens_out is not None else _words(reply.text)
        return {"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out}

    def _completion(self, body: dict, reply: Reply) -> dict:
        return {
            "id": f"chatcmpl-{len(self.owner.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model or body.get("model") or self.owner.model,
            "choices": [{"index": 0, "finish_reason": reply.finish_reason,
                         "message": {"role": "assistant", "content": reply.text}}],
            "usage": self._usage(body, reply),
        }

    def _stream(self, request: Request, body: dict, reply: Reply) -> None:
        # Server-sent events; the connection closes at the end instead of chunked encoding.
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.close_connection = True
        base = {"id": "chatcmpl-stream", "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": reply.model or body.get("model") or self.owner.model}

        def event(choices: list, **extra) -> None:
            chunk = json.dumps({**base, "choices": choices, **extra})
            self.wfile.write(f"data: {chunk}\n\n".encode())
            self.wfile.flush()

        event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        pieces = [w + " " for w in reply.text.split(" ")]
        pieces[-1] = pieces[-1][:-1]
        for piece in pieces:
            self.owner.sleep(reply.chunk_delay_s)
            event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
        event([{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}])
        if (body.get("stream_options") or {}).get("include_usage"):
            event([], usage=self._usage(body, reply))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        request.status, request.answered_at = 200, time.monotonic()


def main(argv: list[str] | None = None) -> None:
    """`python -m tests.scripted_server --delay 0.1`: a fixed-latency endpoint in its own process
    (for benches: a server in the measuring process competes with it for the GIL). Prints the
    base URL on the first line, serves until terminated."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--text", default="42", help="reply text")
    args = parser.parse_args(argv)
    server = ScriptedServer().start()
    server.script(lambda req: Reply(text=args.text, delay_s=args.delay))
    print(server.url, flush=True)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop()


if __name__ == "__main__":
    main()
