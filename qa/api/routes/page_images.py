"""The picture of an OCR'd page, on which the web page marks where a citation was read."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Path, Response

from qa.api.deps import StateDep
from qa.api.security import KeyDep, authorize
from qa.api.state import AppState
from qa.errors import NotFoundError

router = APIRouter(prefix="/v1/collections/{collection}/documents", tags=["documents"])

_MAX_PAGE = 1_000_000


def _picture(state: AppState, collection: str, document_id: str, page: int) -> bytes:
    """Only a document of the live generation shows its pages, and only as this version
    of it: the picture is looked up by the content hash the live generation holds."""
    rows = []
    if state.has_documents(collection):
        opened = state.runtime.collection(collection)
        rows = opened.docstore.document_summaries(0, 1, document_id)
    if not rows:
        raise NotFoundError(f"document {document_id!r} is not in collection {collection!r}")
    image = state.runtime.page_images.get(
        collection, document_id, str(rows[0]["content_hash"]), str(page)
    )
    if image is None:
        raise NotFoundError(
            f"document {document_id!r} has no picture of page {page}: only pages read by OCR "
            "keep one (QA_OCR_PAGE_IMAGE_SIDE)"
        )
    return image


@router.get(
    "/{document_id:path}/pages/{page}/image",
    summary="The picture of one OCR'd page of a document, as a JPEG.",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "The page's picture."}},
)
async def page_image(
    collection: str,
    document_id: str,
    page: Annotated[int, Path(ge=1, le=_MAX_PAGE)],
    state: StateDep,
    key: KeyDep,
) -> Response:
    authorize(key, collection, "reader")
    image = await anyio.to_thread.run_sync(lambda: _picture(state, collection, document_id, page))
    state.audit.record(
        key=key,
        route="/v1/collections/{collection}/documents/{document_id}/pages/{page}/image",
        collection=collection,
        documents=[document_id],
    )
    return Response(image, media_type="image/jpeg", headers={"Cache-Control": "private"})
