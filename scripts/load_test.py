"""Bounded load test: concurrent askers and a concurrent upload loop against `qa serve` on
loopback, checking that the service degrades the way it promises rather than breaking.

    .venv/bin/python scripts/load_test.py [--seconds 120] [--askers 16] [--url URL --pid PID
        --audit-log PATH] [--corpus FILE_OR_DIR ...] [--report reports/load_test.json]

Without --url the script starts its own server (`python -m qa serve` on 127.0.0.1, a free
port, a fresh index dir), creates the collection, uploads --corpus into it (default: the
sample corpus), and stops the server at the end. The server takes its settings from the
environment as usual: QA_GENERATOR (default `fast`; `tiny` for a quick run),
QA_REQUEST_TIMEOUT_S, QA_GENERATION_QUEUE, QA_MAX_NEW_TOKENS...

For --seconds, --askers threads each ask one question after another (POST /v1/ask,
every other one streamed; a 503 is retried after its Retry-After), while one more thread
uploads a small generated .txt file (multipart), polls its job to the end and deletes the
document again. It then checks, and exits 1 if any check fails:

- statuses: an answer is 200, 503 with Retry-After (queue full) or 504 (deadline; also as
  a stream's error event); an upload 202 (or 503 with Retry-After); a job read 200; a
  delete 204 (or 409/503: busy, with Retry-After on 503); an upload job ends `done`;
- no hang: every request ends within --hang-s (default QA_REQUEST_TIMEOUT_S + 30 s);
- memory: the server's resident set (VmRSS in /proc/PID/status, sampled every 0.5 s)
  grows by at most --max-rss-growth-mb over its size when the load starts;
- audit: every /v1 request the script sent is in the audit log (audit.jsonl) with its
  method, route template and status.

With --url (a loopback address only: this is not a tool for other people's servers), pass
--pid for the memory check and --audit-log for the audit check; a check without its input
is reported as not run. Prints a summary and writes it as JSON to --report.
"""

from __future__ import annotations

import argparse
import collections
import ipaddress
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SUFFIXES = {".txt", ".md", ".html", ".htm", ".pdf", ".docx", ".jsonl"}
# Questions the sample corpus answers, and one it does not (refused before generation).
QUESTIONS = [
    "How long is the loan period?",
    "What is the maximum bond a landlord may ask for?",
    "When does the clinic open on Saturday?",
    "What happens when an assignment is submitted late?",
    "How much paracetamol may an adult take in one day?",
    "图书的借期是多少天？",
    "Who won the football world cup in 1966?",
]
WORDS = (
    "tenant landlord clinic library loan bond notice repair fee student assessment "
    "appointment dose tablet renewal penalty inspection deposit hours weekday"
).split()
# What each kind of request may answer under load (503 only with Retry-After).
ALLOWED = {
    "ask": {200, 503, 504},
    "upload": {202, 503},
    "job": {200},
    "delete": {204, 409, 503},
    "create": {201, 409},
}
ROUTES = {
    "ask": ("POST", "/v1/ask"),
    "upload": ("POST", "/v1/collections/{collection}/documents"),
    "job": ("GET", "/v1/jobs/{job_id}"),
    "delete": ("DELETE", "/v1/collections/{collection}/documents/{document_id}"),
    "create": ("POST", "/v1/collections"),
}


@dataclass
class Record:
    kind: str
    status: int | None
    seconds: float
    note: str = ""


@dataclass
class Run:
    """Every request the script sent, and every check that failed."""

    hang_s: float
    records: list[Record] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def request(
        self, client: httpx.Client, kind: str, method: str, url: str, **kw: Any
    ) -> httpx.Response | None:
        """One request, recorded and checked against ALLOWED; None when it failed to end."""
        started = time.monotonic()
        try:
            response = client.request(method, url, timeout=self.hang_s, **kw)
        except httpx.HTTPError as exc:
            self.fail(kind, None, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
            return None
        self.check(kind, response, started)
        return response

    def check(self, kind: str, response: httpx.Response, started: float, note: str = "") -> None:
        took = time.monotonic() - started
        status = response.status_code
        if status not in ALLOWED[kind]:
            self.fail(kind, status, took, f"status {status}: {response.text[:300]}")
        elif status == 503 and "retry-after" not in response.headers:
            self.fail(kind, status, took, "503 without Retry-After")
        elif took > self.hang_s:
            self.fail(kind, status, took, f"took {took:.1f} s, over the {self.hang_s:g} s bound")
        else:
            with self.lock:
                self.records.append(Record(kind, status, took, note))

    def fail(self, kind: str, status: int | None, took: float, why: str) -> None:
        with self.lock:
            self.records.append(Record(kind, status, took, why))
            self.violations.append(f"{kind}: {why}")


def retry_after(response: httpx.Response) -> float:
    try:
        return float(response.headers.get("retry-after", "1"))
    except ValueError:
        return 1.0


def asker(run: Run, base: str, collection: str, questions: list[str], until: float, n: int) -> None:
    order = random.Random(n)
    with httpx.Client(base_url=base) as client:
        asked = 0
        while time.monotonic() < until:
            body = {"question": order.choice(questions), "collection": collection}
            asked += 1
            if asked % 2:
                response = run.request(client, "ask", "POST", "/v1/ask", json=body)
            else:
                response = stream_ask(run, client, body)
            if response is not None and response.status_code == 503:
                time.sleep(min(retry_after(response), max(0.0, until - time.monotonic())))


def stream_ask(run: Run, client: httpx.Client, body: dict[str, Any]) -> httpx.Response | None:
    """A streamed answer must end with its `answer` event, or an `error` event for the
    deadline (504)."""
    started = time.monotonic()
    try:
        with client.stream(
            "POST", "/v1/ask", json={**body, "stream": True}, timeout=run.hang_s
        ) as response:
            if response.status_code != 200:
                response.read()
                run.check("ask", response, started)
                return response
            events = [
                line for line in response.iter_lines() if line.startswith(("event:", "data:"))
            ]
    except httpx.HTTPError as exc:
        run.fail("ask", None, time.monotonic() - started, f"stream: {type(exc).__name__}: {exc}")
        return None
    last = events[-2:] if len(events) >= 2 else []
    if last and last[0] == "event: answer":
        run.check("ask", response, started, note="stream answer")
    elif last and last[0] == "event: error" and json.loads(last[1][5:]).get("status") == 504:
        run.check("ask", response, started, note="stream 504")
    else:
        run.fail("ask", 200, time.monotonic() - started, f"stream ended with {last!r}")
    return response


def uploader(run: Run, base: str, collection: str, until: float) -> None:
    order = random.Random(0)
    with httpx.Client(base_url=base) as client:
        n = 0
        while time.monotonic() < until:
            n += 1
            name = f"load-{n:04d}.txt"
            text = "\n\n".join(
                " ".join(order.choice(WORDS) for _ in range(40)).capitalize() + "."
                for _ in range(5)
            )
            files = {"files": (name, f"Load note {n}\n\n{text}\n".encode(), "text/plain")}
            response = run.request(
                client, "upload", "POST", f"/v1/collections/{collection}/documents", files=files
            )
            if response is None or response.status_code != 202:
                time.sleep(retry_after(response) if response is not None else 1.0)
                continue
            if wait_for_job(run, client, response.json()) != "done":
                continue
            deleted = run.request(
                client, "delete", "DELETE", f"/v1/collections/{collection}/documents/{name}"
            )
            if deleted is not None and deleted.status_code != 204:
                time.sleep(retry_after(deleted))


def wait_for_job(run: Run, client: httpx.Client, job: dict[str, Any]) -> str | None:
    """The job's final status (None when a read failed); a failed job is a violation."""
    started = time.monotonic()
    while job["status"] in ("queued", "running"):
        if time.monotonic() - started > run.hang_s:
            run.fail("job", 200, time.monotonic() - started, f"job {job['id']} never ended")
            return None
        time.sleep(0.5)
        response = run.request(client, "job", "GET", f"/v1/jobs/{job['id']}")
        if response is None or response.status_code != 200:
            return None
        job = response.json()
    if job["status"] != "done" or job["errors"]:
        run.fail("job", 200, time.monotonic() - started, f"job ended {job['status']}: {job}")
    return str(job["status"])


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(name="rss", daemon=True)
        self.path = Path(f"/proc/{pid}/status")
        self.samples: list[tuple[float, float]] = []
        self.stopping = threading.Event()
        self.started_at = time.monotonic()

    def rss_mb(self) -> float | None:
        try:
            for line in self.path.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            rss = self.rss_mb()
            if rss is not None:
                self.samples.append((round(time.monotonic() - self.started_at, 1), round(rss, 1)))


def audit_counts(path: Path, offset: int) -> collections.Counter[tuple[str, str, int]]:
    with path.open("rb") as fh:
        fh.seek(offset)
        lines = fh.read().decode("utf-8").splitlines()
    entries = [json.loads(line) for line in lines if line.strip()]
    return collections.Counter((e.get("method"), e["route"], e["status"]) for e in entries)


def audit_check(run: Run, path: Path, offset: int) -> dict[str, Any]:
    """Every request sent is in the log. An entry is written once its response is over,
    which can be just after the client has read it: wait a little for the last ones."""
    sent = collections.Counter(
        (*ROUTES[r.kind], r.status) for r in run.records if r.status is not None
    )
    deadline = time.monotonic() + 15
    while True:
        missing = sent - audit_counts(path, offset) if path.exists() else sent
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for (method, route, status), count in sorted(missing.items()):
        run.violations.append(f"audit: {count} x {method} {route} {status} not in {path}")
    return {
        "path": str(path),
        "requests_sent": sum(sent.values()),
        "missing": sum(missing.values()),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Target:
    """The server under load; `process` only when the script started it."""

    base: str
    pid: int | None
    audit: Path | None
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def wait_for(self, path: str, within_s: float = 900) -> None:
        deadline = time.monotonic() + within_s
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise SystemExit(f"the server exited; see {self.log}")
            try:
                if httpx.get(f"{self.base}{path}", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.base}{path} did not answer 200 within {within_s:g} s")
            time.sleep(0.5)


@contextmanager
def own_server(index_dir: Path, log: Path) -> Iterator[Target]:
    """`qa serve` on a free loopback port, once it answers (its models may still be
    loading: the corpus is ingested meanwhile)."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    settings = Settings(index_dir=index_dir)
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "qa", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--index-dir", str(index_dir)],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    audit = settings.audit_path if settings.audit else None
    target = Target(f"http://127.0.0.1:{port}", server.pid, audit, server, log)
    try:
        target.wait_for("/healthz")
        yield target
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def corpus_files(paths: list[Path]) -> list[Path]:
    found = [
        p
        for path in paths
        for p in ([path] if path.is_file() else sorted(path.rglob("*")))
        if p.is_file() and p.suffix.lower() in SUFFIXES
    ]
    if not found:
        raise SystemExit(f"no documents to upload in {', '.join(map(str, paths))}")
    return found


def prepare(run: Run, base: str, collection: str, corpus: list[Path]) -> None:
    """The collection and its documents, before the load starts (these requests are
    checked and audited like the others)."""
    with httpx.Client(base_url=base) as client:
        run.request(client, "create", "POST", "/v1/collections", json={"name": collection})
        files = [("files", (p.name, p.read_bytes())) for p in corpus_files(corpus)]
        response = run.request(
            client, "upload", "POST", f"/v1/collections/{collection}/documents", files=files
        )
        if response is None or response.status_code != 202:
            raise SystemExit(f"could not upload the corpus: {run.violations}")
        if wait_for_job(run, client, response.json()) != "done":
            raise SystemExit(f"the corpus was not ingested: {run.violations}")


def load(run: Run, base: str, args: argparse.Namespace) -> float:
    until = time.monotonic() + args.seconds
    threads = [
        threading.Thread(
            target=asker, args=(run, base, args.collection, args.question, until, n), daemon=True
        )
        for n in range(args.askers)
    ]
    threads.append(
        threading.Thread(target=uploader, args=(run, base, args.collection, until), daemon=True)
    )
    started = time.monotonic()
    for thread in threads:
        thread.start()
    # A request started just before the end may run to the hang bound, not past it.
    deadline = until + run.hang_s + 30
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            run.violations.append(f"{thread.name} still waiting {run.hang_s:g} s after the end")
    return time.monotonic() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarise(run: Run, seconds: float) -> dict[str, Any]:
    kinds: dict[str, Any] = {}
    for kind in ALLOWED:
        records = [r for r in run.records if r.kind == kind]
        if not records:
            continue
        # Latency of what succeeded: an instant 503 says nothing about the time to answer.
        times = [r.seconds for r in records if r.status and 200 <= r.status < 300]
        times = times or [r.seconds for r in records]
        statuses = collections.Counter(str(r.status) for r in records)
        notes = collections.Counter(r.note for r in records if r.note)
        kinds[kind] = {
            "requests": len(records),
            "statuses": dict(sorted(statuses.items())),
            "notes": dict(notes.most_common(10)),
            "p50_s": round(statistics.median(times), 3),
            "p95_s": round(percentile(times, 0.95), 3),
            "max_s": round(max(r.seconds for r in records), 3),
        }
    return {"load_seconds": round(seconds, 1), "requests": kinds}


def memory(sampler: RssSampler | None, limit_mb: float, run: Run) -> dict[str, Any] | None:
    if sampler is None or not sampler.samples:
        return None
    baseline = sampler.samples[0][1]
    peak = max(mb for _, mb in sampler.samples)
    if peak - baseline > limit_mb:
        run.violations.append(
            f"memory: resident set grew {peak - baseline:.0f} MB (from {baseline:.0f} to "
            f"{peak:.0f} MB), over the {limit_mb:g} MB bound"
        )
    return {
        "baseline_mb": baseline,
        "peak_mb": peak,
        "final_mb": sampler.samples[-1][1],
        "growth_limit_mb": limit_mb,
        "samples": sampler.samples,
    }


def print_summary(report: dict[str, Any]) -> None:
    print(f"load: {report['askers']} askers + 1 uploader for {report['load_seconds']} s")
    for kind, figures in report["requests"].items():
        print(
            f"  {kind:<7} {figures['requests']:>5} requests  statuses {figures['statuses']}  "
            f"2xx p50 {figures['p50_s']} s, p95 {figures['p95_s']} s; max {figures['max_s']} s"
            + (f"  {figures['notes']}" if figures["notes"] else "")
        )
    mem = report["memory"]
    print(
        "  memory: not checked (no --pid)"
        if mem is None
        else f"  memory: {mem['baseline_mb']:.0f} MB at the start, peak {mem['peak_mb']:.0f} MB, "
        f"{mem['final_mb']:.0f} MB at the end (bound: +{mem['growth_limit_mb']:g} MB)"
    )
    audit = report["audit"]
    print(
        "  audit: not checked (no --audit-log)"
        if audit is None
        else f"  audit: {audit['requests_sent'] - audit['missing']} of {audit['requests_sent']} "
        f"requests found in {audit['path']}"
    )
    for violation in report["violations"][:20]:
        print(f"  VIOLATION {violation}")
    print("PASS" if not report["violations"] else f"FAIL: {len(report['violations'])} violation(s)")


def loopback_url(url: str) -> str:
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise argparse.ArgumentTypeError(f"{url}: only a server on loopback may be load-tested")
    return url.rstrip("/")


def parse_args() -> argparse.Namespace:
    timeout = Settings().request_timeout_s
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=120, help="How long to load (120).")
    parser.add_argument("--askers", type=int, default=16, help="Concurrent askers (16).")
    parser.add_argument(
        "--url", type=loopback_url, help="A running server on loopback; default: start one."
    )
    parser.add_argument("--pid", type=int, help="With --url: the server's process id (memory).")
    parser.add_argument("--audit-log", type=Path, help="With --url: its audit.jsonl (audit).")
    parser.add_argument(
        "--collection", default="load", help="Collection asked and uploaded to (load)."
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        nargs="+",
        default=[ROOT / "corpus"],
        help="Without --url: files or folders uploaded before the load (the sample corpus).",
    )
    parser.add_argument(
        "--question",
        action="append",
        help="A question to ask (repeatable); default: questions on the sample corpus.",
    )
    parser.add_argument(
        "--hang-s",
        type=float,
        default=timeout + 30,
        help=f"No request may take longer (QA_REQUEST_TIMEOUT_S + 30 = {timeout + 30:g}).",
    )
    parser.add_argument(
        "--max-rss-growth-mb",
        type=float,
        default=1024,
        help="Bound on the server's resident set growth during the load (1024).",
    )
    parser.add_argument(
        "--report", type=Path, default=ROOT / "reports" / "load_test.json", help="JSON output."
    )
    args = parser.parse_args()
    args.question = args.question or QUESTIONS
    if args.askers < 1 or args.seconds <= 0:
        parser.error("--askers and --seconds must be positive")
    return args


def measure(args: argparse.Namespace, target: Target) -> int:
    run = Run(hang_s=args.hang_s)
    audit = target.audit
    offset = audit.stat().st_size if audit is not None and audit.exists() else 0
    if target.process is not None:
        prepare(run, target.base, args.collection, args.corpus)
    target.wait_for("/readyz")
    sampler = RssSampler(target.pid) if target.pid is not None else None
    if sampler is not None:
        sampler.start()
    seconds = load(run, target.base, args)
    if sampler is not None:
        sampler.stopping.set()
        sampler.join()
    report = {
        "url": target.base,
        "askers": args.askers,
        "seconds": args.seconds,
        "hang_s": args.hang_s,
        **summarise(run, seconds),
        "memory": memory(sampler, args.max_rss_growth_mb, run),
        "audit": audit_check(run, audit, offset) if audit is not None else None,
        "violations": run.violations,
    }
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print_summary(report)
    print(f"report: {args.report}")
    return 1 if run.violations else 0


def main() -> int:
    args = parse_args()
    if args.url is not None:
        return measure(args, Target(args.url, args.pid, args.audit_log))
    with tempfile.TemporaryDirectory(prefix="qa-load-") as folder:
        log = args.report.with_suffix(".server.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        with own_server(Path(folder), log) as target:
            return measure(args, target)


if __name__ == "__main__":
    sys.exit(main())
