"""Fixtures of the service tests: apps over a temporary index dir, open or keyed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.catalogue import Catalogue
from qa.models.protocols import Embedder
from qa.runtime import Runtime
from qa.settings import Settings
from tests.api.service import Keys, Service, bearer


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    """The real MiniLM, loaded once: each app's runtime is handed this instance."""
    return Runtime(Settings(embedder="minilm")).embedder("minilm")


@pytest.fixture
def make_service(tmp_path: Path, minilm: Embedder) -> Iterator[Callable[..., Service]]:
    """Start an app (no model warm-up) over tmp_path/idx; keyword arguments are settings,
    `open_allowed` goes to create_app."""
    started: list[TestClient] = []

    def make(*, open_allowed: bool = True, **overrides: Any) -> Service:
        values: dict[str, Any] = {"index_dir": tmp_path / "idx", "embedder": "minilm"}
        values.update(overrides)
        settings = Settings(**values)
        app = create_app(settings, warm=False, open_allowed=open_allowed)
        client = TestClient(app)
        client.__enter__()
        started.append(client)
        app.state.qa.runtime.add_embedder(minilm)
        return Service(client, app, settings)

    yield make
    for client in reversed(started):
        client.__exit__(None, None, None)


@pytest.fixture
def keyed(make_service: Callable[..., Service], tmp_path: Path) -> tuple[Service, Keys]:
    """A service with keys, and an empty collection 'docs' created over HTTP."""
    catalogue = Catalogue(tmp_path / "idx" / "catalogue.sqlite")
    _, admin = catalogue.create_key("ops", "admin", ["*"])
    _, writer = catalogue.create_key("editor", "writer", ["docs"])
    reader_key, reader = catalogue.create_key("clerk", "reader", ["docs"])
    _, other = catalogue.create_key("elsewhere", "admin", ["other"])
    gone, revoked = catalogue.create_key("former", "admin", ["*"])
    assert catalogue.revoke_key(gone.id)
    service = make_service()
    created = service.client.post("/v1/collections", json={"name": "docs"}, headers=bearer(admin))
    assert created.status_code == 201, created.text
    return service, Keys(admin, writer, reader, other, revoked, reader_key.id)


@pytest.fixture
def service(make_service: Callable[..., Service]) -> Service:
    """Open mode, small limits, and an empty collection 'docs'."""
    made = make_service(max_body_bytes=1024, max_upload_bytes=4096, max_upload_files=2)
    assert made.client.post("/v1/collections", json={"name": "docs"}).status_code == 201
    return made
