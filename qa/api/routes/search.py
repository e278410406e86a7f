from __future__ import annotations

from fastapi import APIRouter

from qa.api.deps import StateDep
from qa.api.schemas import SearchBody, SearchOut
from qa.retrieval import SearchRequest, result_dict

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/search", summary="Passages nearest a query.")
async def search(body: SearchBody, state: StateDep) -> SearchOut:
    request = SearchRequest(body.query, body.collection, body.k, body.filters, body.mode)
    hits = await state.run_search(lambda: state.retriever.search(request))
    results = [
        result_dict(rank, hit, explain=body.explain) for rank, hit in enumerate(hits, start=1)
    ]
    return SearchOut.model_validate({"results": results})
