"""Ingestion jobs. Plain `def` routes: the catalogue is a database call, which FastAPI
then runs in its thread pool instead of on the event loop."""

from __future__ import annotations

from fastapi import APIRouter

from qa.api.deps import StateDep
from qa.api.schemas import JobOut
from qa.api.security import KeyDep, authorize
from qa.errors import NotFoundError

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("/{job_id}", summary="An ingestion job: queued, running, done or failed.")
def get_job(job_id: str, state: StateDep, key: KeyDep) -> JobOut:
    job = state.catalogue.job(job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id!r}")
    authorize(key, job.collection, "reader")
    return JobOut.model_validate(job.to_dict())
