from __future__ import annotations

from fastapi import APIRouter

from qa.api.deps import StateDep
from qa.api.schemas import SearchBody, SearchOut
from qa.api.security import KeyDep, authorize
from qa.records import SearchRequest
from qa.retrieval import result_dict, validate_query

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/search", summary="Passages nearest a query.")
async def search(body: SearchBody, state: StateDep, key: KeyDep) -> SearchOut:
    authorize(key, body.collection, "reader")
    validate_query(body.query, state.settings.max_question_chars)
    if not state.has_documents(body.collection):
        hits = []
    else:
        request = SearchRequest(body.query, body.collection, body.k, body.filters, body.mode)
        hits = await state.run_search(lambda: state.retriever.search(request))
    results = [
        result_dict(rank, hit, explain=body.explain) for rank, hit in enumerate(hits, start=1)
    ]
    state.audit.record(
        key=key,
        route="/v1/search",
        collection=body.collection,
        question=body.query,
        documents=[hit.chunk.document_id for hit in hits],
    )
    return SearchOut.model_validate({"results": results})
