"""A fake Twilio REST API on 127.0.0.1, for tests and benchmarks (standard library only).

It answers the two calls the service makes, the way Twilio does:

- `POST /2010-04-01/Accounts/{sid}/Messages.json`: 201 and a message JSON (`sid` "SM...",
  status "queued", RFC 2822 dates), or a Twilio error JSON for a request Twilio would
  refuse (no To, bad To, no sender, no body, body over 1600 characters, bad validity).
- `GET /2010-04-01/Accounts/{sid}/Messages/{SM...}.json`: the stored message.

Both check HTTP Basic auth against the account sid and token (401, error 20003).

Tests script the next replies:

    with FakeTwilio(sid, token) as fake:
        fake.respond_next(status=400, code=21610, message="unsubscribed recipient")
        fake.delay_next(1.0)          # the reply after that is slow
        ... fake.requests[-1].form["To"] ...

`FakeTwilio(sid, token, delay=0.05)` (or setting `fake.delay`) makes every authenticated
reply that late, like a slow provider, so a test can stop a worker in the middle of a run.

It is built for a 20,000-message benchmark: keep-alive HTTP/1.1, no sleeps unless
scripted, no logging per request.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

API_VERSION = "2010-04-01"
_CREATE = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages\.json$")
_FETCH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MAX_BODY = 1600
MAX_VALIDITY = 36_000


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    form: dict[str, str]  # first value of each posted field
    auth: tuple[str, str] | None  # (user, password) from HTTP Basic auth
    received_at: float  # time.time()


@dataclass(frozen=True)
class _Script:
    delay: float = 0.0
    status: int | None = None  # None: answer normally after the delay
    code: int | None = None
    message: str = ""


def twilio_error(status: int, code: int | None, message: str) -> dict[str, Any]:
    """Twilio's error body, as the SDK turns it into TwilioRestException."""
    body: dict[str, Any] = {"message": message, "status": status}
    if code is not None:
        body["code"] = code
        body["more_info"] = f"https://www.twilio.com/docs/errors/{code}"
    return body


class FakeTwilio:
    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        *,
        initial_status: str = "queued",
        delay: float = 0.0,
    ):
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        # Real Twilio says "accepted" for a Messaging Service send; tests may choose.
        self.initial_status = initial_status
        # Seconds every authenticated request waits before its reply (a slow provider).
        self.delay = delay
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._scripts: deque[_Script] = deque()
        self._messages: dict[str, dict[str, Any]] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # Authenticated requests being answered now, and the most there have been at once
        # (what a concurrent outbox keeps in flight).
        self._in_flight = 0
        self.peak_in_flight = 0

    # --- life cycle --------------------------------------------------------------------

    def start(self) -> FakeTwilio:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-twilio",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake Twilio is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- scripting and inspection ------------------------------------------------------

    def respond_next(
        self,
        status: int = 400,
        code: int | None = None,
        message: str = "Scripted error",
        *,
        times: int = 1,
    ) -> None:
        """The next `times` authenticated requests get this Twilio error."""
        with self._lock:
            self._scripts.extend([_Script(status=status, code=code, message=message)] * times)

    def delay_next(self, seconds: float) -> None:
        """The next authenticated request is answered normally, `seconds` late."""
        with self._lock:
            self._scripts.append(_Script(delay=seconds))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def messages(self) -> dict[str, dict[str, Any]]:
        """Created messages by sid."""
        with self._lock:
            return dict(self._messages)

    def set_status(self, sid: str, status: str) -> None:
        """Move a stored message on, as Twilio would before a status callback."""
        with self._lock:
            self._messages[sid]["status"] = status

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._scripts.clear()
            self._messages.clear()
            self.peak_in_flight = 0

    # --- request handling (called on the server's threads) ------------------------------

    def handle(self, method: str, path: str, query: str, form: dict[str, str], auth: Any) -> Reply:
        with self._lock:
            self._requests.append(RecordedRequest(method, path, query, form, auth, time.time()))
        if auth != (self.account_sid, self.auth_token):
            return Reply(
                401,
                twilio_error(401, 20003, "Authenticate")
                | {"detail": "Your AccountSid or AuthToken was incorrect."},
                {"WWW-Authenticate": 'Basic realm="Twilio API"'},
            )
        with self._lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            return self._answer(method, path, form)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, method: str, path: str, form: dict[str, str]) -> Reply:
        if self.delay:
            time.sleep(self.delay)
        script = self._next_script()
        if script is not None:
            if script.delay:
                time.sleep(script.delay)
            if script.status is not None:
                return Reply(
                    script.status, twilio_error(script.status, script.code, script.message)
                )
        return self._route(method, path, form)

    def _next_script(self) -> _Script | None:
        with self._lock:
            return self._scripts.popleft() if self._scripts else None

    def _route(self, method: str, path: str, form: dict[str, str]) -> Reply:
        create, fetch = _CREATE.match(path), _FETCH.match(path)
        if method == "POST" and create and create["account"] == self.account_sid:
            return self._create(form)
        if method == "GET" and fetch and fetch["account"] == self.account_sid:
            message = self.messages.get(fetch["sid"])
            if message is not None:
                return Reply(200, message)
        return Reply(404, twilio_error(404, 20404, f"The requested resource {path} was not found"))

    def _create(self, form: dict[str, str]) -> Reply:
        problem = _refusal(form)
        if problem is not None:
            code, message = problem
            return Reply(400, twilio_error(400, code, message))
        message = self._new_message(form)
        with self._lock:
            self._messages[message["sid"]] = message
        return Reply(201, message)

    def _new_message(self, form: dict[str, str]) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC))  # RFC 2822, "+0000" like Twilio
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": form["Body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": self.initial_status,
            "subresource_uris": {
                "media": uri.removesuffix(".json") + "/Media.json",
                "feedback": uri.removesuffix(".json") + "/Feedback.json",
            },
            "to": form["To"],
            "uri": uri,
        }


def _refusal(form: dict[str, str]) -> tuple[int, str] | None:
    """Twilio's code and message for a create request it would refuse, if any."""
    to, body = form.get("To", ""), form.get("Body", "")
    if not to:
        return 21604, "A 'To' phone number is required."
    if not _E164.match(to):
        return 21211, f"Invalid 'To' Phone Number: {to}"
    if not (form.get("From") or form.get("MessagingServiceSid")):
        return 21603, "A 'From' phone number is required."
    if not body:
        return 21602, "Message body is required."
    if len(body) > MAX_BODY:
        return 21617, "The concatenated message body exceeds the 1600 character limit."
    validity = form.get("ValidityPeriod")
    if validity is not None and not (validity.isdigit() and 1 <= int(validity) <= MAX_VALIDITY):
        return 21626, "Invalid validity period value"
    return None


@dataclass(frozen=True)
class Reply:
    status: int
    payload: dict[str, Any]
    headers: dict[str, str] | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeTwilio

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is expected (timeout tests), not news.
        pass


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive: the SDK's pooled session reuses one connection for many messages.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without this, Nagle plus delayed ACKs
    # would add ~40 ms to every reply.
    disable_nagle_algorithm = True
    timeout = 30  # close idle keep-alive connections eventually
    server_version = "FakeTwilio/1.0"
    sys_version = ""
    server: _Server

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # silent: one line per request would swamp a benchmark

    def _serve(self, method: str) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        form = {name: values[0] for name, values in parse_qs(raw, keep_blank_values=True).items()}
        auth = _basic_auth(self.headers.get("Authorization"))
        self._send(self.server.fake.handle(method, path, query, form, auth))

    def _send(self, reply: Reply) -> None:
        body = json.dumps(reply.payload).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (reply.headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password
