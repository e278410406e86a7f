"""Collections. Listing, creating and describing them are catalogue and store calls:
plain `def` routes, which FastAPI runs in its thread pool instead of on the event loop."""

from __future__ import annotations

import contextlib

import anyio.to_thread
from fastapi import APIRouter, Response

from qa.api.deps import StateDep
from qa.api.schemas import CollectionBody, CollectionOut, CollectionsOut
from qa.api.security import KeyDep, authorize, visible
from qa.api.state import AppState
from qa.errors import CollectionNotFoundError, ConflictError
from qa.records import check_name

router = APIRouter(prefix="/v1/collections", tags=["collections"])


def describe(state: AppState, name: str) -> CollectionOut:
    if state.runtime.store.exists(name):
        manifest = state.runtime.store.manifest(name)
        return CollectionOut(
            name=name,
            documents=manifest.documents,
            chunks=manifest.chunks,
            embedder=manifest.embedder["name"],
            generation=manifest.generation,
            created_at=manifest.built_at,
        )
    _, embedder = state.catalogue.collection_embedder(name)
    return CollectionOut(
        name=name, documents=0, chunks=0, embedder=embedder, generation=None, created_at=None
    )


@router.get("", summary="Collections the key may read.")
def list_collections(state: StateDep, key: KeyDep) -> CollectionsOut:
    names = visible(key, state.collection_names())
    return CollectionsOut(collections=[describe(state, n) for n in names])


@router.post("", status_code=201, summary="Create an empty collection.")
def create_collection(
    body: CollectionBody, state: StateDep, key: KeyDep, response: Response
) -> CollectionOut:
    name = check_name(body.name)
    authorize(key, name, "writer")
    if name in state.collection_names():
        raise ConflictError(f"collection {name!r} already exists")
    if not state.catalogue.add_collection(name, body.embedder):
        raise ConflictError(f"collection {name!r} already exists")
    response.headers["Location"] = f"/v1/collections/{name}"
    return describe(state, name)


@router.get("/{collection}", summary="One collection's size and embedder.")
def get_collection(collection: str, state: StateDep, key: KeyDep) -> CollectionOut:
    authorize(key, collection, "reader")
    state.has_documents(collection)
    return describe(state, collection)


def _remove(state: AppState, name: str) -> None:
    """The catalogue's record goes first, then the store's under the writer lock: a job
    writing into the collection checks both under that lock before it publishes
    (qa/jobs.py), so it either sees the delete or is removed by it. Its conversations
    go last, once the collection is gone: a delete refused as busy keeps them."""
    state.has_documents(name)
    state.catalogue.remove_collection(name)
    with contextlib.suppress(CollectionNotFoundError):
        state.runtime.remove_collection(name, wait_s=state.settings.delete_wait_s)
    state.catalogue.remove_conversations(name)


@router.delete(
    "/{collection}", status_code=204, summary="Delete a collection, its indexes and conversations."
)
async def delete_collection(collection: str, state: StateDep, key: KeyDep) -> Response:
    authorize(key, collection, "admin")
    await anyio.to_thread.run_sync(_remove, state, collection)
    return Response(status_code=204)
