"""Schema fuzzing: schemathesis drives every operation of /openapi.json against a real
`qa serve` process, first open (no key exists), then with API keys (an admin key, a
reader key scoped to one collection, and no key at all), and checks what a client relies
on: no 5xx, and every response one the document declares (status code, media type, body
schema, headers); a 503 must also carry Retry-After.

Bounded: a fixed number of examples per operation and generation mode (schema-valid and
schema-violating inputs), derandomised so that every run sends the same requests; a
failing example is reported with the curl command that reproduces it. A longer, random
run is the schemathesis CLI against a running server (coverage and stateful phases too):

    st run http://127.0.0.1:8000/openapi.json --mode all --max-examples 500 \\
       -c not_a_server_error,status_code_conformance,content_type_conformance,\\
response_schema_conformance,response_headers_conformance [-H "Authorization: Bearer $KEY"]

No fuzzed question reaches the generator (`qa serve` loads the `tiny` one before it is
ready, and that is all it does with it): the seeded collection holds only made-up words no
generated question contains, and QA_MIN_SCORE is above any cosine similarity, so the
evidence gate refuses every question before generation. Uploads go to a collection of
their own, so that what they ingest is never evidence for a question either.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import schemathesis.checks
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from tests.conftest import qa_serve

# Collections the fuzzer is pointed at besides the names it makes up: one with documents
# for the routes that read, an empty one for uploads (never the one questions go to).
SEEDED = "default"
UPLOADS = "uploads"
# Made-up words: no generated question shares a term with them (see the module docstring).
SEED_RECORDS = [
    {"id": "seed/qzxv-wplk.txt", "text": "qzxv wplk frobnitz glarb", "metadata": {"n": 1}},
    {"id": "seed/vrokt-yemph.txt", "text": "vrokt yemph qzxv snarfle", "metadata": {"n": 2}},
]
UPLOAD_ROUTE = "/v1/collections/{collection}/documents"


@schemathesis.check
def retry_after_on_503(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """A client told 'busy' must be told when to come back."""
    if response.status_code == 503:
        assert "retry-after" in {h.lower() for h in response.headers}, "503 without Retry-After"


CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
    retry_after_on_503,
]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(
        QA_GENERATOR="tiny",
        QA_EMBEDDER="e5-multilingual",
        QA_MIN_SCORE="1.01",
        QA_MAX_NEW_TOKENS="16",
        HF_HUB_OFFLINE="1",
    )
    return env


@dataclass
class Server:
    base: str
    index_dir: Path


def _wait_for_job(client: httpx.Client, job: dict[str, Any]) -> None:
    deadline = time.monotonic() + 300
    while job["status"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = client.get(f"/v1/jobs/{job['id']}").json()
    assert job["status"] == "done" and not job["errors"], job


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    index_dir = tmp_path_factory.mktemp("fuzz-index")
    log = index_dir.parent / "serve.log"
    with qa_serve(index_dir, _env(), log, ready_within_s=300) as base:
        with httpx.Client(base_url=base, timeout=60) as client:
            for name in (SEEDED, UPLOADS):
                created = client.post(
                    "/v1/collections", json={"name": name, "embedder": "e5-multilingual"}
                )
                assert created.status_code == 201, created.text
            job = client.post(f"/v1/collections/{SEEDED}/documents", json={"records": SEED_RECORDS})
            assert job.status_code == 202, job.text
            _wait_for_job(client, job.json())
        yield Server(base, index_dir)


def _create_key(server: Server, collections: str, role: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "qa", "keys", "create", "--collections", collections,
         "--role", role, "--index-dir", str(server.index_dir)],
        capture_output=True, text=True, env=_env(), timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _schema(server: Server) -> Any:
    document = httpx.get(f"{server.base}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=server.base)
    return schema


def _pinned(operation: Any) -> dict[str, str] | None:
    """Path parameters that aim some schema-valid cases at collections that exist: made-up
    names only ever reach a 404. Never a collection's own DELETE: the seed must stay."""
    names = {p.name for p in operation.path_parameters}
    if operation.path == UPLOAD_ROUTE:
        return {"collection": UPLOADS}
    if "model" in names:
        return {"model": SEEDED}
    if "collection" in names and operation.label != "DELETE /v1/collections/{collection}":
        return {"collection": SEEDED}
    return None


def _strategies(operation: Any) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = [
        ("valid", operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    ]
    pinned = _pinned(operation)
    if pinned:
        strategy = operation.as_strategy(
            generation_mode=GenerationMode.POSITIVE, path_parameters=pinned
        )
        found.append((f"valid, {pinned}", strategy))
    # Only a body or a query can be made invalid: any string is a valid path segment.
    if len(operation.body) or len(operation.query):
        found.append(("invalid", operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)))
    return found


def fuzz(schema: Any, headers: dict[str, str], examples: int) -> tuple[int, list[str]]:
    """Run every operation's strategies; (requests sent, one failure report each)."""
    sent = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for label, strategy in _strategies(operation):

            @given(case=strategy)
            @settings(
                max_examples=examples,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def one(case: schemathesis.Case) -> None:
                nonlocal sent
                sent += 1
                case.call_and_validate(headers=headers, checks=CHECKS, timeout=60)

            try:
                one()
            except Exception as exc:
                failures.append(f"{operation.label} ({label}): {exc}")
    return sent, failures


def _generations(server: Server, headers: dict[str, str]) -> float:
    metrics = httpx.get(f"{server.base}/metrics", headers=headers, timeout=30)
    assert metrics.status_code == 200, metrics.text
    count = "qa_generation_seconds_count "
    return float(next(ln for ln in metrics.text.splitlines() if ln.startswith(count)).split()[1])


def check(server: Server, headers: dict[str, str], examples: int, admin: dict[str, str]) -> None:
    started = time.monotonic()
    sent, failures = fuzz(_schema(server), headers, examples)
    print(f"{sent} requests in {time.monotonic() - started:.1f} s")
    assert not failures, "\n\n".join(failures)
    # The premise of the bound: every fuzzed question was refused before generation.
    assert _generations(server, admin) == 0


def test_open_service(server: Server) -> None:
    # Keys are created by the tests below: this one must see the service still open.
    assert httpx.get(f"{server.base}/v1/collections", timeout=30).status_code == 200
    check(server, {}, 25, admin={})


@pytest.fixture(scope="module")
def keys(server: Server) -> dict[str, str]:
    return {
        "admin": _create_key(server, "*", "admin"),
        "reader": _create_key(server, SEEDED, "reader"),
    }


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("who", "examples"), [("admin", 10), ("reader", 5), ("nobody", 3)])
def test_service_with_keys(server: Server, keys: dict[str, str], who: str, examples: int) -> None:
    assert httpx.get(f"{server.base}/v1/collections", timeout=30).status_code == 401
    headers = _bearer(keys[who]) if who in keys else {}
    check(server, headers, examples, admin=_bearer(keys["admin"]))
