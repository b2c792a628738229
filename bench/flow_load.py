"""Load generator for `bench/patient_flow.py`, run in its own process (never the server's).

Simulated patients walk the real journey over HTTP/1.1 on 127.0.0.1: the SMS link, the
start page, every question of the Barts tool (GET the page, POST the answer), "Check your
answers", submit, the confirmation. Each follows redirects, keeps its own cookies and
posts back the `csrf_token` parsed from the page it was shown. The client is a small
asyncio HTTP/1.1 client (one process, no threads): it costs far less CPU per request than
a general-purpose library, which matters on a two-core machine shared with the server.

Modes (the result is one JSON object on stdout):

  closed-flow   C patients at once, no think time: each starts the next link as soon as
                it has submitted; requests/s over the whole flow after a warm-up.
  closed-insert C clients hammering `POST /bench/insert` the same way.
  open-flow     requests start on a fixed schedule (one every 1/rate s) whatever has
                completed; each slot goes to the patient that has waited longest for its
                next page, or to a new patient when none is waiting. Latency is timed
                from the scheduled start, so a late start counts against the server.

    .venv/bin/python bench/flow_load.py closed-flow --port 8000 --tokens tokens.txt
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import resource
import sys
from collections import defaultdict, deque
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
QUESTIONNAIRE = ROOT / "questionnaires" / "barts-social-welfare.yaml"
CSRF = re.compile(rb'name="csrf_token"[^>]*?value="([^"]+)"')
KINDS = (
    "link",
    "start",
    "start_post",
    "resume",
    "question_get",
    "question_post",
    "check",
    "submit",
    "done",
)
FLAG_SHARE = 0.12  # per screening item: about half the patients flag at least one
DECLINE_SHARE = 0.05
MAX_ERROR_SAMPLES = 10


# --- a minimal HTTP/1.1 client ---------------------------------------------------------------


class Reply:
    __slots__ = ("body", "close", "cookies", "location", "status")

    def __init__(
        self, status: int, location: str | None, cookies: list[str], close: bool, body: bytes
    ):
        self.status = status
        self.location = location
        self.cookies = cookies
        self.close = close
        self.body = body


class Connection:
    """One TCP connection, kept while the server keeps it (gthread); sync workers close it."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, cookies: dict[str, str], body: bytes = b""
    ) -> Reply:
        reused = self.writer is not None
        try:
            return await self._request(method, path, cookies, body)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.close()
            if not reused:
                raise
            # The server closed an idle kept-alive connection: one fresh try, as browsers do.
            return await self._request(method, path, cookies, body)

    async def _request(self, method: str, path: str, cookies: dict[str, str], body: bytes) -> Reply:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Accept: text/html"]
        if cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
        if method == "POST":
            lines.append("Content-Type: application/x-www-form-urlencoded")
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        length: int | None = None
        chunked = close = False
        location = None
        set_cookies: list[str] = []
        for line in header_lines:
            if not line:
                continue
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.lower() == "close":
                close = True
            elif name == "location":
                location = value
            elif name == "set-cookie":
                set_cookies.append(value)
        if status in (204, 304) or status < 200:
            payload = b""
        elif chunked:
            parts = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            payload = b"".join(parts)
        elif length is not None:
            payload = await self.reader.readexactly(length) if length else b""
        else:
            payload = await self.reader.read()
            close = True
        if close:
            self.close()
        return Reply(status, location, set_cookies, close, payload)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def apply_cookies(jar: dict[str, str], set_cookies: list[str]) -> None:
    for header in set_cookies:
        pair = header.split(";", 1)[0]
        name, _, value = pair.partition("=")
        name = name.strip()
        expired = "expires=thu, 01 jan 1970" in header.lower() or "max-age=0" in header.lower()
        if value and not expired:
            jar[name] = value
        else:
            jar.pop(name, None)


# --- a patient ---------------------------------------------------------------------------------


def answer_plan() -> dict[str, tuple[list[str], list[str]]]:
    """Item id -> (values that flag, every value), from the questionnaire file."""
    data = yaml.safe_load(QUESTIONNAIRE.read_text(encoding="utf-8"))
    sets = data.get("answer_sets", {})
    plan = {}
    for item in data["items"]:
        answers = item.get("answers") or []
        if isinstance(answers, str):
            answers = sets[answers]
        values = [a["value"] for a in answers]
        flags = list((item.get("flag") or {}).get("when") or [])
        plan[item["id"]] = (flags, values)
    return plan


def kind_of_get(path: str) -> str:
    if path.startswith("/s/q/"):
        return "question_get"
    return {"/s/start": "start", "/s/resume": "resume", "/s/check": "check", "/s/done": "done"}.get(
        path, "other"
    )


class Patient:
    """One simulated patient: what to request next, given what the server last answered."""

    def __init__(
        self, index: int, token: str, plan: dict[str, Any], host: str, port: int, seed: int
    ):
        self.index = index
        self.rng = random.Random(seed * 1_000_003 + index)
        self.plan = plan
        self.cookies: dict[str, str] = {}
        self.connection = Connection(host, port)
        self.next: tuple[str, str, str, bytes] | None = ("link", "GET", f"/s/{token}", b"")
        self.submitted = False
        self.finished = False
        self.saw_wants_help = False
        self.error: str | None = None
        self.requests = 0

    def _answer(self, item_id: str) -> str:
        flags, values = self.plan.get(item_id, ([], ["yes", "no", "decline"]))
        if not flags:
            return self.rng.choice(values)
        roll = self.rng.random()
        if roll < FLAG_SHARE:
            return self.rng.choice(flags)
        if roll < FLAG_SHARE + DECLINE_SHARE and "decline" in values:
            return "decline"
        others = [v for v in values if v not in flags and v != "decline"] or values
        return self.rng.choice(others)

    def _form(self, reply: Reply, **fields: str) -> bytes | None:
        found = CSRF.search(reply.body)
        if found is None:
            return None
        return urlencode({"csrf_token": found.group(1).decode(), **fields}).encode()

    def handle(self, kind: str, method: str, path: str, reply: Reply) -> None:
        apply_cookies(self.cookies, reply.cookies)
        self.next = None
        if 300 <= reply.status < 400 and reply.location:
            target = urlsplit(reply.location)
            location = target.path + (f"?{target.query}" if target.query else "")
            if kind == "submit" and target.path == "/s/done":
                self.submitted = True
            self.next = (kind_of_get(target.path), "GET", location, b"")
            return
        if reply.status != 200 or method != "GET":
            self.error = f"{kind} {method} {path}: HTTP {reply.status}"
            return
        if path == "/s/done":
            self.finished = True
            return
        if path == "/s/start":
            body = self._form(reply)
            self.next = ("start_post", "POST", "/s/start", body) if body else None
        elif path.startswith("/s/q/"):
            item_id = path.rsplit("/", 1)[1]
            self.saw_wants_help |= item_id == "wants_help"
            body = self._form(reply, **{item_id: self._answer(item_id)})
            self.next = ("question_post", "POST", path, body) if body else None
        elif path == "/s/check":
            body = self._form(reply)
            self.next = ("submit", "POST", "/s/check", body) if body else None
        if self.next is None:
            self.error = f"{kind} {method} {path}: no form with a csrf_token on the page"


# --- measurements ------------------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, int] = defaultdict(int)
        self.errors = 0
        self.error_samples: list[str] = []
        self.counted = 0

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(message)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(share * len(ordered) + 0.999999) - 1))
    return ordered[rank]


def summary(tally: Tally) -> dict[str, Any]:
    pages = {}
    for kind in (*KINDS, "other", "insert"):
        values = tally.latency.get(kind)
        if values:
            pages[kind] = {
                "n": len(values),
                "p50_ms": percentile(values, 0.50) * 1000,
                "p95_ms": percentile(values, 0.95) * 1000,
                "p99_ms": percentile(values, 0.99) * 1000,
                "max_ms": max(values) * 1000,
            }
    return {
        "pages": pages,
        "statuses": dict(tally.statuses),
        "errors": tally.errors,
        "error_samples": tally.error_samples,
    }


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Tokens:
    def __init__(self, path: Path, offset: int):
        self.tokens = path.read_text().split()
        self.position = offset
        self.exhausted = False

    def take(self) -> tuple[int, str] | None:
        if self.position >= len(self.tokens):
            self.exhausted = True
            return None
        index = self.position
        self.position += 1
        return index, self.tokens[index]


async def send(patient: Patient, tally: Tally | None) -> tuple[str, float] | None:
    """Make the patient's next request and let it read the reply; None on a failure."""
    assert patient.next is not None
    kind, method, path, body = patient.next
    patient.requests += 1
    try:
        reply = await patient.connection.request(method, path, patient.cookies, body)
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        patient.connection.close()
        patient.error = f"{kind} {method} {path}: {type(exc).__name__}: {exc}"
        patient.next = None
        if tally is not None:
            tally.statuses["exception"] += 1
            tally.error(patient.error)
        return None
    patient.handle(kind, method, path, reply)
    if tally is not None:
        tally.statuses[str(reply.status)] += 1
        if not 200 <= reply.status < 400:
            tally.error(f"{kind} {method} {path}: HTTP {reply.status}: {reply.body[:200]!r}")
        elif patient.error:
            tally.error(patient.error)
    return kind, reply.status


def patients_report(patients: list[Patient]) -> dict[str, Any]:
    return {
        "patients_started": len(patients),
        "patients_submitted": sum(p.submitted for p in patients),
        "patients_finished": sum(p.finished for p in patients),
        "patients_failed": sum(p.error is not None for p in patients),
        "saw_wants_help": sum(p.saw_wants_help for p in patients),
        "requests_per_submitted_patient": (
            sum(p.requests for p in patients if p.submitted and p.finished)
            / max(1, sum(1 for p in patients if p.submitted and p.finished))
        ),
        "submitted_indices": [p.index for p in patients if p.submitted],
        "started_indices": [p.index for p in patients],
    }


# --- closed loop ---------------------------------------------------------------------------------


async def closed_flow(args: argparse.Namespace) -> dict[str, Any]:
    plan = answer_plan()
    tokens = Tokens(Path(args.tokens), args.offset)
    tally = Tally()
    patients: list[Patient] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from = start + args.warmup
    end = measure_from + args.seconds

    async def worker() -> None:
        while loop.time() < end:
            taken = tokens.take()
            if taken is None:
                return
            patient = Patient(*taken, plan, args.host, args.port, args.seed)
            patients.append(patient)
            while patient.next is not None and loop.time() < end:
                began = loop.time()
                done = await send(patient, tally)
                finished = loop.time()
                if done is not None and finished >= measure_from and finished < end:
                    tally.counted += 1
                    tally.latency[done[0]].append(finished - began)
            patient.connection.close()

    cpu = cpu_seconds()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    elapsed = min(loop.time(), end) - measure_from
    measured = max(elapsed, 1e-9)
    return {
        "mode": "closed-flow",
        "concurrency": args.concurrency,
        "seconds": measured,
        "requests": tally.counted,
        "rps": tally.counted / measured,
        "tokens_used_to": tokens.position,
        "tokens_exhausted": tokens.exhausted,
        "client_cpu_seconds": cpu_seconds() - cpu,
        **patients_report(patients),
        **summary(tally),
    }


async def closed_insert(args: argparse.Namespace) -> dict[str, Any]:
    tally = Tally()
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from = start + args.warmup
    end = measure_from + args.seconds

    async def worker() -> None:
        connection = Connection(args.host, args.port)
        while loop.time() < end:
            began = loop.time()
            try:
                reply = await connection.request("POST", "/bench/insert", {}, b"")
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                connection.close()
                tally.statuses["exception"] += 1
                tally.error(f"insert: {type(exc).__name__}: {exc}")
                continue
            finished = loop.time()
            tally.statuses[str(reply.status)] += 1
            if not 200 <= reply.status < 400:
                tally.error(f"insert: HTTP {reply.status}: {reply.body[:200]!r}")
            elif measure_from <= finished < end:
                tally.counted += 1
                tally.latency["insert"].append(finished - began)
        connection.close()

    cpu = cpu_seconds()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    measured = args.seconds
    return {
        "mode": "closed-insert",
        "concurrency": args.concurrency,
        "seconds": measured,
        "requests": tally.counted,
        "rps": tally.counted / measured,
        "client_cpu_seconds": cpu_seconds() - cpu,
        **summary(tally),
    }


# --- open loop -----------------------------------------------------------------------------------


async def open_flow(args: argparse.Namespace) -> dict[str, Any]:
    plan = answer_plan()
    tokens = Tokens(Path(args.tokens), args.offset)
    tally = Tally()
    patients: list[Patient] = []
    waiting: deque[Patient] = deque()  # patients whose next page is due, longest wait first
    in_flight: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    interval = 1.0 / args.rate
    start = loop.time() + 0.05
    end = start + args.seconds
    drain_until = end + args.drain
    late: list[float] = []
    offered = 0
    skipped = 0

    async def fire(patient: Patient, scheduled: float) -> None:
        done = await send(patient, tally if scheduled < end else None)
        if done is not None and scheduled < end:
            tally.counted += 1
            tally.latency[done[0]].append(loop.time() - scheduled)
        if patient.next is not None:
            waiting.append(patient)
        else:
            patient.connection.close()

    cpu = cpu_seconds()
    slot = 0
    while True:
        scheduled = start + slot * interval
        if scheduled >= end and not waiting and not in_flight:
            break
        if scheduled >= drain_until:
            break
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        late.append(loop.time() - scheduled)
        slot += 1
        if waiting:
            patient = waiting.popleft()
        elif scheduled < end:
            taken = tokens.take()
            if taken is None:
                skipped += 1
                continue
            patient = Patient(*taken, plan, args.host, args.port, args.seed)
            patients.append(patient)
        else:
            continue  # draining: only patients already on their way get slots
        if scheduled < end:
            offered += 1
        task = asyncio.create_task(fire(patient, scheduled))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(in_flight, timeout=10)
    return {
        "mode": "open-flow",
        "rate": args.rate,
        "seconds": args.seconds,
        "offered": offered,
        "requests": tally.counted,
        "slots_without_token": skipped,
        "start_lag_p99_ms": percentile(late, 0.99) * 1000 if late else 0.0,
        "unfinished_patients": sum(1 for p in patients if p.next is not None),
        "tokens_used_to": tokens.position,
        "client_cpu_seconds": cpu_seconds() - cpu,
        **patients_report(patients),
        **summary(tally),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["closed-flow", "closed-insert", "open-flow"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", help="file of link tokens, one a line")
    parser.add_argument("--offset", type=int, default=0, help="first token to use")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--drain", type=float, default=10)
    parser.add_argument("--seed", type=int, default=20261203)
    args = parser.parse_args(argv)
    runner = {"closed-flow": closed_flow, "closed-insert": closed_insert, "open-flow": open_flow}
    result = asyncio.run(runner[args.mode](args))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
