from __future__ import annotations

from fastapi import APIRouter

from qa.api.deps import StateDep
from qa.api.schemas import SearchBody, SearchOut
from qa.api.security import KeyDep, authorize
from qa.records import SearchHit, SearchRequest
from qa.views import result_dict

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/search", summary="Passages nearest a query.")
async def search(body: SearchBody, state: StateDep, key: KeyDep) -> SearchOut:
    authorize(key, body.collection, "reader")
    request = SearchRequest(body.query, body.collection, body.k, body.filters, body.mode)

    def run() -> list[SearchHit]:
        query = state.open_query(request)
        return state.retriever.run(query) if query is not None else []

    hits = await state.run_search(run)
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
