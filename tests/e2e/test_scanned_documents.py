"""Scanned PDFs and photos of pages, English and Chinese, from the CLI: read by OCR on
ingest, then answered with citations that name the scanned page (the answer's search
found it). The web page and the API do the same in tests/e2e/test_web.py, where each
file is also the first hit of POST /v1/search and every file's question is answered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_end_to_end import check_answer, run_qa
from tests.ingest.scans import SCANNED_CASES, write_scanned_cases

pytestmark = pytest.mark.slow


def test_scans_and_photos_are_answered_from_the_cli(tmp_path: Path) -> None:
    # Two of the four cases are read and asked here (an English photo, a Chinese PDF's
    # second page after its born-digital cover): the web test uploads and asks all four,
    # and each costs seconds of OCR and of answering.
    asked = SCANNED_CASES[1:3]
    for path in write_scanned_cases(tmp_path / "scans"):
        if path.name not in {case.file for case in asked}:
            path.unlink()
    index_dir = tmp_path / "index"
    done = run_qa("ingest", str(tmp_path / "scans"), "--collection", "scans",
                  "--index-dir", str(index_dir), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert sorted(report["added"]) == sorted(case.file for case in asked), report
    assert not report["not_read"], report

    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        "".join(
            json.dumps({"id": case.file, "text": case.question}, ensure_ascii=False) + "\n"
            for case in asked
        ),
        encoding="utf-8",
    )
    done = run_qa("ask", "--questions", str(questions), "--collection", "scans",
                  "--index-dir", str(index_dir), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["question_id"] for a in answers] == [case.file for case in asked]
    for case, answer in zip(asked, answers, strict=True):
        check_answer(answer, index_dir, "scans")
        assert answer["found"], (case, answer)
        assert {(c["document"], c["page"]) for c in answer["citations"]} == {
            (case.file, case.page)
        }, (case, answer)
        assert any(word in answer["answer"] for word in case.answer_holds), (case, answer)
