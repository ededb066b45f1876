"""The sandbox's HTTP server: keep-alive HTTP/1.1 on the standard library, one thread per
connection.

Every runtime request goes through the same steps, in the order a request meets them at
Voiceflow: the body is read, the knobs add latency or inject a failure (as the network or a load
balancer would), the body is parsed as Express's body-parser does, then the route answers.
Requests under `/_sandbox/` are the control API (control.py): not counted, delayed or failed.
"""

import contextlib
import ipaddress
import json
import socket
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from . import control, demo
from .knobs import Knobs, Settings
from .ratelimit import FixedWindowLimiter
from .routing import BadEscape, match_route
from .runtime import RuntimeApi
from .sessions import SessionRegistry
from .stats import Stats
from .store import Store
from .wire import (
    HELMET_HEADERS,
    EventStream,
    Refused,
    Request,
    Response,
    coded_error,
    html_not_found,
    is_json,
    named_error,
    parse_body,
    status_phrase,
    to_json,
    weak_etag,
)

BODY_LIMIT = 1024 * 1024  # gr-src BODY_PARSER_SIZE_LIMIT '1mb'
# Node's --max-http-header-size default: request line and headers together (§9: 431 past it).
HEADER_LIMIT = 16 * 1024
HEADERS_TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n"
# Bodies up to this size are read (and discarded) before answering 413, so the connection stays
# usable; larger ones are refused and the connection closed.
DRAIN_LIMIT = 64 * 1024 * 1024
IDLE_CONNECTION_TIMEOUT_S = 300
SAVE_INTERVAL_S = 5.0
CORS_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE"


class BodyTooLarge(Exception):
    def __init__(self, drained: bool) -> None:
        super().__init__("body too large")
        self.drained = drained


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        host: str,
        port: int,
        *,
        demo_data: bool = True,
        settings: Settings | None = None,
        state_file: Path | None = None,
        access_log: bool = False,
    ) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), SandboxHandler)
        self.demo_data = demo_data
        self.state_file = state_file
        self.access_log = access_log
        self.stopping = threading.Event()
        self.store = Store()
        self.sessions = SessionRegistry()
        self.knobs = Knobs(settings or Settings())
        self.limiter = FixedWindowLimiter()
        self.stats = Stats()
        self.runtime = RuntimeApi(self)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._serving: threading.Thread | None = None
        self._saver: threading.Thread | None = None
        if state_file is not None and state_file.exists():
            self.store.load_file(state_file)
        else:
            self.load_initial_data()

    def handle_error(self, request, client_address) -> None:
        # A client that goes away mid-request (a worker stopped, a test's time-out) is how
        # connections end, not a fault of the sandbox worth a traceback; anything else is.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def load_initial_data(self) -> None:
        if self.demo_data:
            demo.load_demo(self.store)
        else:
            self.store.replace_all([], {})

    def reset(self) -> None:
        """Everything back to the start: demo data (if enabled), default knobs, no stats."""
        self.load_initial_data()
        self.sessions.clear()
        self.knobs.reset()
        self.stats.reset()
        self.limiter.reset()

    def start(self) -> None:
        self._serving = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox", daemon=True
        )
        self._serving.start()
        if self.state_file is not None:
            self._saver = threading.Thread(target=self._save_periodically, daemon=True)
            self._saver.start()

    def _save_periodically(self) -> None:
        while not self.stopping.wait(SAVE_INTERVAL_S):
            self.store.save_file(self.state_file, only_if_changed=True)

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def shutdown(self) -> None:
        """Stop serving, end held and idle connections, and save the state file."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        if self._serving is not None:
            super().shutdown()
        if self._saver is not None:
            self._saver.join()
        self.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self.state_file is not None:
            self.store.save_file(self.state_file)


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "voiceflow-sandbox"
    sys_version = ""
    timeout = IDLE_CONNECTION_TIMEOUT_S
    # Headers and body are separate writes; with Nagle on, each response waits a delayed ACK.
    disable_nagle_algorithm = True
    server: SandboxServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        self.server.track(self.connection, open_=False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.access_log:
            super().log_message(format, *args)

    def handle_one_request(self) -> None:
        """The standard library's request loop, with Node's limit on the request line and
        headers: past 16 KiB the answer is a bare 431 and the connection closes."""
        try:
            self.raw_requestline = self.rfile.readline(HEADER_LIMIT + 1)
            if not self.raw_requestline:
                self.close_connection = True
                return
            if len(self.raw_requestline) > HEADER_LIMIT:
                self._refuse_oversized_head()
                return
            if not self.parse_request():
                return
            head_size = len(self.raw_requestline) + sum(
                len(name) + len(value) + 4 for name, value in self.headers.items()
            )
            if head_size > HEADER_LIMIT:
                self.wfile.write(HEADERS_TOO_LARGE)
                self.close_connection = True
                return
            method = getattr(self, "do_" + self.command, None)
            if method is None:
                self.send_error(501, f"Unsupported method ({self.command!r})")
                return
            method()
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True

    def _refuse_oversized_head(self) -> None:
        # Read the rest of the head first (up to a bound), so closing does not reset the
        # connection under the client before it reads the answer.
        read = len(self.raw_requestline)
        line = self.raw_requestline
        while read < 1024 * 1024 and line not in (b"\r\n", b"\n", b""):
            line = self.rfile.readline(65536)
            read += len(line)
        self.wfile.write(HEADERS_TOO_LARGE)
        self.close_connection = True

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    # ---- the request pipeline ----

    def _handle(self) -> None:
        raw_path, _, query_string = self.path.partition("?")
        try:
            raw_body = self._read_body()
        except BodyTooLarge as too_large:
            if not too_large.drained:
                self.close_connection = True
            self._write(named_error(413, "PayloadTooLargeError", "request entity too large"))
            return
        except ValueError:
            self.close_connection = True
            self._write(named_error(400, "BadRequestError", "invalid request body framing"))
            return
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        if raw_path == "/_sandbox" or raw_path.startswith("/_sandbox/"):
            self._control(raw_path, query, raw_body)
        else:
            self._runtime(raw_path, query, raw_body)

    def _control(self, raw_path: str, query: dict[str, str], raw_body: bytes) -> None:
        if not ipaddress.ip_address(self.client_address[0].split("%")[0]).is_loopback:
            answer = Response(403, to_json({"error": "the control API answers loopback only"}))
            self._write(answer, express=False)
            return
        answer = control.handle(self.server, self.command, raw_path, query, raw_body)
        self._write(answer, express=False)

    def _runtime(self, raw_path: str, query: dict[str, str], raw_body: bytes) -> None:
        server = self.server
        if self.command == "OPTIONS":
            self._write(self._preflight(), express=False)
            return
        try:
            route = match_route(self.command, raw_path)
        except BadEscape as bad:
            self._write(named_error(400, "URIError", f"Failed to decode param '{bad}'"))
            return
        route_name = route.name if route else "unmatched"
        user_id = route.user_id if route else None
        api_key = self._api_key()
        settings = server.knobs.for_key(api_key)
        if route is not None and route.name.startswith("v4.") and not settings.v4_routes:
            route = None
        server.stats.request(api_key, route_name, self.command)

        if settings.latency_ms and server.stopping.wait(settings.latency_ms / 1000):
            self.close_connection = True
            return
        failure = server.knobs.draw_failure(api_key, route_name, user_id)
        if failure is not None:
            server.stats.injected_failure(api_key)
            if failure.mode == "5xx":
                server.stats.response(api_key, route_name, failure.status, user_id)
                self._write(coded_error(failure.status, status_phrase(failure.status)))
            else:
                if failure.mode == "timeout":
                    server.stopping.wait(failure.hold_seconds)
                # "drop", and a held request at the end of its hold: no response at all.
                self.close_connection = True
            return

        request = Request(self.command, raw_path, query, self.headers, raw_body)
        if route is not None:
            try:
                answer: Response | EventStream = server.runtime.handle(request, route, settings)
            except Exception as exc:
                # A bug in the double: answer as Express's error handler would, and say why.
                traceback.print_exc()
                answer = coded_error(500, f"{type(exc).__name__}: {exc}")
        else:
            # Express parses bodies before routing, so even an unknown route can get a 400.
            try:
                parse_body(request)
                answer = html_not_found(self.command, raw_path)
            except Refused as refusal:
                answer = refusal.response
        # Counted before the answer is written: a client that reads its answer and then asks
        # the control API for the counters must find this request there. A client that goes away
        # mid-answer (a killed worker) changes nothing: what the runtime did, a write included,
        # happened all the same.
        status = answer.status if isinstance(answer, Response) else 200
        server.stats.response(api_key, route_name, status, user_id)
        try:
            self._write(answer)
        except OSError:
            self.close_connection = True

    def _api_key(self) -> str | None:
        """The project key a request is accounted to: its Authorization, or the key of the
        project a v4 session key or a bearer access token belongs to."""
        authorization = self.headers.get("Authorization")
        if not authorization:
            return None
        session = self.server.sessions.get(authorization)
        if session is not None:
            project = self.server.store.project(session.project_id)
            if project is not None:
                return project.api_key
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer":
            project = self.server.store.project_by_token(token.strip())
            if project is not None:
                return project.api_key
        return authorization

    def _preflight(self) -> Response:
        # gr-src's cors middleware reflects the origin and answers preflights itself (§7.1 item 14).
        requested = self.headers.get("Access-Control-Request-Headers")
        headers = {
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Allow-Methods": CORS_METHODS,
            "Vary": "Origin, Access-Control-Request-Headers",
        }
        origin = self.headers.get("Origin")
        if origin:
            headers = {"Access-Control-Allow-Origin": origin, **headers}
        if requested:
            headers["Access-Control-Allow-Headers"] = requested
        return Response(204, b"", None, headers, etag=False)

    # ---- reading and writing ----

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if not length_header:
            return b""
        length = int(length_header)
        if length < 0:
            raise ValueError(length)
        if length > DRAIN_LIMIT:
            raise BodyTooLarge(drained=False)
        body = self.rfile.read(length)
        if length > BODY_LIMIT and is_json(self.headers.get("Content-Type")):
            raise BodyTooLarge(drained=True)
        return body

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(1024)
            chunk_size = int(line.split(b";")[0].strip() or b"0", 16)
            if chunk_size == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailers
                break
            size += chunk_size
            if size > DRAIN_LIMIT:
                raise BodyTooLarge(drained=False)
            chunks.append(self.rfile.read(chunk_size))
            self.rfile.readline(1024)
        body = b"".join(chunks)
        if len(body) > BODY_LIMIT and is_json(self.headers.get("Content-Type")):
            raise BodyTooLarge(drained=True)
        return body

    def _cors_headers(self) -> dict[str, str]:
        """gr-src's cors middleware: the origin reflected, credentials allowed (§7.1 item 14);
        compression adds Accept-Encoding to Vary."""
        origin = self.headers.get("Origin")
        allowed = {"Access-Control-Allow-Origin": origin} if origin else {}
        return {
            **allowed,
            "Vary": "Origin, Accept-Encoding",
            "Access-Control-Allow-Credentials": "true",
        }

    def _write(self, answer: Response | EventStream, *, express: bool = True) -> None:
        """Write an answer; `express` adds what gr-src's middleware adds to every answer (CORS,
        helmet, a weak ETag), which the control API and preflights do without."""
        if isinstance(answer, EventStream):
            self._write_stream(answer)
            return
        self.send_response(answer.status)
        headers = {**self._cors_headers(), **HELMET_HEADERS} if express else {}
        for name, value in {**headers, **answer.headers}.items():
            self.send_header(name, value)
        if answer.content_type:
            self.send_header("Content-Type", answer.content_type)
        if answer.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(answer.body)))
        if express and answer.etag and answer.body:
            self.send_header("ETag", weak_etag(answer.body))
        self.send_header("Connection", "close" if self.close_connection else "keep-alive")
        self.end_headers()
        if self.command == "HEAD":
            return
        if answer.chunked:
            body = answer.body
            self.wfile.write((f"{len(body):x}\r\n".encode() + body + b"\r\n") if body else b"")
            self.wfile.write(b"0\r\n\r\n")
        elif answer.body:
            self.wfile.write(answer.body)

    def _write_stream(self, stream: EventStream) -> None:
        """Server-sent events, each flushed as it is produced; the end of the body is the end
        of the connection (no Content-Length)."""
        self.close_connection = True
        self.send_response(200)
        for name, value in {**self._cors_headers(), **stream.headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for number, (event, data) in enumerate(stream.events, start=1):
                frame = f"id: {number}\nevent: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
                self.wfile.write(frame.encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    demo_data: bool = True,
    latency_ms: int = 0,
    budget_per_minute: int = 500,
    window_seconds: float = 60.0,
    state_file: Path | str | None = None,
    access_log: bool = False,
) -> SandboxServer:
    """Start a sandbox in background threads of this process; stop it with `.shutdown()`."""
    server = SandboxServer(
        host,
        port,
        demo_data=demo_data,
        settings=Settings(
            latency_ms=latency_ms,
            budget_per_minute=budget_per_minute,
            window_seconds=window_seconds,
        ),
        state_file=Path(state_file) if state_file is not None else None,
        access_log=access_log,
    )
    server.start()
    return server
