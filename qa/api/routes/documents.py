from __future__ import annotations

import json
import shutil
import tempfile
import unicodedata
from collections import Counter
from pathlib import Path, PurePath
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from qa.api.deps import StateDep
from qa.api.schemas import DocumentOut, DocumentsOut, JobOut, RecordsBody
from qa.api.security import KeyDep, authorize
from qa.api.state import AppState
from qa.catalogue import ApiKey
from qa.errors import (
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from qa.ingest import loaders
from qa.jobs import RECORDS_FILE

router = APIRouter(prefix="/v1/collections/{collection}/documents", tags=["documents"])

_COPY_CHUNK = 1 << 20
_MAX_NAME_BYTES = 255  # NAME_MAX of the file systems the spool lives on
# Ids that a URL cannot carry as one path segment: browsers and httpx resolve them
# (encoded or not) as dot segments, so a request for them would reach another resource.
_DOT_SEGMENTS = frozenset({".", ".."})
_MAX_OFFSET = 2**63 - 1  # SQLite's largest integer


def _spool(state: AppState) -> Path:
    root = state.settings.index_dir / ".spool"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="upload-", dir=root))


def _file_name(upload: UploadFile) -> str:
    """The document id of an uploaded file: its base name, as `qa ingest FILE` would.
    It is also the spooled file's name, so it must be one the file system takes."""
    raw = (upload.filename or "").replace("\\", "/")
    name = PurePath(raw).name.strip()
    if not name or name.startswith("."):
        raise InvalidInputError(f"files: every file needs a name; got {upload.filename!r}")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise InvalidInputError(f"files: {name!r}: a file name must not hold control characters")
    if len(name.encode()) > _MAX_NAME_BYTES:
        limit = f"a file name must be at most {_MAX_NAME_BYTES} bytes in UTF-8"
        raise InvalidInputError(f"files: {name[:40]!r}...: {limit}")
    return name


async def _save_files(request: Request, state: AppState, spool: Path) -> list[str]:
    limit = state.settings.max_upload_files
    try:
        form = await request.form(max_files=limit, max_fields=limit)
    except (MultiPartException, HTTPException) as exc:
        # Inside an app Starlette turns its MultiPartException into a plain 400
        # HTTPException; the body limit's 413 is an HTTPException too and passes on.
        if isinstance(exc, HTTPException) and exc.status_code != 400:
            raise
        message = str(exc.message if isinstance(exc, MultiPartException) else exc.detail)
        if message.startswith("Too many files"):
            raise PayloadTooLargeError(
                f"too many files in one upload: the limit is {limit}"
            ) from None
        if message.startswith("Too many fields"):
            raise PayloadTooLargeError(
                f"too many form fields in one upload: the limit is {limit}"
            ) from None
        raise InvalidInputError(f"malformed multipart body: {message}") from None
    try:
        uploads = [v for v in form.getlist("files") if isinstance(v, UploadFile)]
        others = [k for k, v in form.multi_items() if k != "files" or not isinstance(v, UploadFile)]
        if others:
            raise InvalidInputError(
                f"unexpected form field(s) {sorted(set(others))}: send the documents as 'files'"
            )
        if not uploads:
            raise InvalidInputError("files: the upload holds no file (use the field name 'files')")
        names: list[str] = []
        for upload in uploads:
            name = _file_name(upload)
            if name in names:
                raise InvalidInputError(f"files: {name!r} appears twice in one upload")
            if not loaders.supported(Path(name)):
                supported = ", ".join(sorted(loaders.LOADERS))
                raise UnsupportedMediaTypeError(
                    f"{name}: unsupported file type (supported: {supported})"
                )
            if upload.size == 0:
                raise InvalidInputError(f"{name}: file is empty")
            with (spool / name).open("wb") as out:
                while chunk := await upload.read(_COPY_CHUNK):
                    out.write(chunk)
            names.append(name)
        return names
    finally:
        await form.close()


def duplicate_ids(ids: list[str]) -> list[str]:
    """The ids given more than once, sorted; counted in one pass (`ids.count` for each id
    took minutes for 300,000 records, with the event loop frozen)."""
    return sorted(i for i, n in Counter(ids).items() if n > 1)


def _save_records(body: bytes, spool: Path) -> list[str]:
    try:
        records = RecordsBody.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    for n, record in enumerate(records.records):
        # The JSON-lines loader skips such records; refuse them here, where the
        # client still hears about it.
        if not record.id.strip():
            raise InvalidInputError(f"records.{n}.id: must not be blank")
        if any(unicodedata.category(c) == "Cc" for c in record.id):
            raise InvalidInputError(f"records.{n}.id: must not hold control characters")
        if record.id in _DOT_SEGMENTS:
            raise InvalidInputError(f"records.{n}.id: {record.id!r} cannot be addressed in a URL")
        if not record.text.strip():
            raise InvalidInputError(f"records.{n}.text: must not be blank")
    ids = [r.id for r in records.records]
    duplicates = duplicate_ids(ids)
    if duplicates:
        raise InvalidInputError(f"records: duplicate id(s) {duplicates[:5]}")
    with (spool / RECORDS_FILE).open("w", encoding="utf-8") as out:
        for record in records.records:
            out.write(json.dumps(record.model_dump(), ensure_ascii=False) + "\n")
    return ids


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "minItems": 1,
                        }
                    },
                    "additionalProperties": False,
                }
            },
            "application/json": {"schema": {"$ref": "#/components/schemas/RecordsBody"}},
        },
    }
}


def upload_schemas() -> dict[str, Any]:
    """RecordsBody and its parts, for the OpenAPI document's components: the upload
    parses its multipart or JSON body itself, so FastAPI cannot declare it."""
    records = RecordsBody.model_json_schema(ref_template="#/components/schemas/{model}")
    return {**records.pop("$defs", {}), "RecordsBody": records}


@router.post(
    "",
    status_code=202,
    openapi_extra=_UPLOAD_BODY,
    summary="Upload documents; they are ingested by a background job.",
    description="multipart/form-data with one or more `files` (.txt .md .html .pdf .docx "
    '.jsonl), or JSON `{"records": [{"id", "text", "title"?, "metadata"?}]}`. Answers 202 '
    "with the job; follow it at `GET /v1/jobs/{id}`.",
)
async def upload(
    collection: str, request: Request, state: StateDep, key: KeyDep, response: Response
) -> JobOut:
    authorize(key, collection, "writer")
    # A catalogue or store call, a JSON parse of up to the upload limit and the job's
    # catalogue row: each in the thread pool, so the event loop keeps answering.
    await anyio.to_thread.run_sync(lambda: state.has_documents(collection))
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    spool = _spool(state)
    try:
        if content_type == "multipart/form-data":
            files = await _save_files(request, state, spool)
        elif content_type == "application/json":
            body = await request.body()
            files = await anyio.to_thread.run_sync(lambda: _save_records(body, spool))
        else:
            raise UnsupportedMediaTypeError(
                f"content type {content_type or 'none'!r}: send multipart/form-data files "
                "or application/json records"
            )
        job = await anyio.to_thread.run_sync(
            lambda: state.worker.enqueue(collection, spool, files, key.id if key else None)
        )
    except BaseException:
        # No job will ever own these files: remove them now or they stay for good.
        shutil.rmtree(spool, ignore_errors=True)
        raise
    state.worker.notify()
    state.audit.record(
        key=key,
        route="/v1/collections/{collection}/documents",
        collection=collection,
        documents=files,
    )
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return JobOut.model_validate(job.to_dict())


def _summaries(
    state: AppState, collection: str, offset: int, limit: int | None, document_id: str | None
) -> tuple[list[dict[str, object]], int]:
    if not state.has_documents(collection):
        return [], 0
    opened = state.runtime.collection(collection)
    rows = opened.docstore.document_summaries(offset, limit, document_id)
    return rows, opened.manifest.documents


@router.get("", summary="The collection's documents, a page at a time.")
async def list_documents(
    collection: str,
    state: StateDep,
    key: KeyDep,
    offset: Annotated[int, Query(ge=0, le=_MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DocumentsOut:
    authorize(key, collection, "reader")
    rows, total = await anyio.to_thread.run_sync(
        lambda: _summaries(state, collection, offset, limit, None)
    )
    return DocumentsOut.model_validate(
        {"documents": rows, "total": total, "offset": offset, "limit": limit}
    )


def _one(state: AppState, collection: str, document_id: str) -> DocumentOut:
    rows, _ = _summaries(state, collection, 0, 1, document_id)
    if not rows:
        raise NotFoundError(f"document {document_id!r} is not in collection {collection!r}")
    opened = state.runtime.collection(collection)
    text = opened.docstore.document_text(document_id)
    return DocumentOut.model_validate({**rows[0], "text": text})


@router.get("/{document_id:path}", summary="One document, with its text.")
async def get_document(
    collection: str, document_id: str, state: StateDep, key: KeyDep
) -> DocumentOut:
    authorize(key, collection, "reader")
    document = await anyio.to_thread.run_sync(lambda: _one(state, collection, document_id))
    state.audit.record(
        key=key,
        route="/v1/collections/{collection}/documents/{document_id}",
        collection=collection,
        documents=[document_id],
    )
    return document


def _delete(state: AppState, collection: str, document_id: str, key: ApiKey | None) -> None:
    if not state.has_documents(collection) or not state.runtime.delete_document(
        collection, document_id, wait_s=state.settings.delete_wait_s
    ):
        raise NotFoundError(f"document {document_id!r} is not in collection {collection!r}")
    state.audit.record(
        key=key,
        route="/v1/collections/{collection}/documents/{document_id}",
        collection=collection,
        documents=[document_id],
    )


@router.delete(
    "/{document_id:path}",
    status_code=204,
    summary="Remove a document from every index; published before the response.",
)
async def delete_document(
    collection: str, document_id: str, state: StateDep, key: KeyDep
) -> Response:
    authorize(key, collection, "writer")
    await anyio.to_thread.run_sync(lambda: _delete(state, collection, document_id, key))
    return Response(status_code=204)
