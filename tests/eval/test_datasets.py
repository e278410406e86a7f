"""Dataset loaders: tiny fixtures in each format, then the real sets when they are present."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qa.eval.datasets import (
    Query,
    load_beir,
    load_clapnq,
    load_dataset,
    load_med,
    load_squad,
)

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _qa(qid: Any, question: str, *answers: str) -> dict[str, Any]:
    return {"id": qid, "question": question, "answers": [{"text": a} for a in answers]}


SQUAD = {
    "version": "v2.0",
    "data": [
        {
            "title": "Alpha",
            "paragraphs": [
                {
                    "context": "Alpha is first.",
                    "qas": [
                        _qa(1, "What is first?", "Alpha", " Alpha ", "alpha"),
                        {**_qa(2, "What is last?"), "is_impossible": True},
                    ],
                },
                {"context": "Beta is second.", "qas": [_qa("q3", "What is second?", "Beta")]},
            ],
        },
        {
            "title": "Again",
            # The same context under another article is the same document.
            "paragraphs": [{"context": "Alpha is first.", "qas": [_qa("q4", "Which?", "Alpha")]}],
        },
        {
            "paragraphs": [
                {"document_id": 630, "context": "COVID-QA style.", "qas": [_qa(5, "Q?", "A")]},
                {"id": "DEV_0", "context": "CMRC style.", "qas": [_qa("DEV_0_Q", "问？", "答")]},
            ]
        },
    ],
}


def test_squad_contexts_become_documents_and_answered_questions_queries(tmp_path: Path) -> None:
    data = load_squad(_write_json(tmp_path / "set.json", SQUAD), "toy")
    assert data.name == "toy"
    assert [d.id for d in data.documents] == ["Alpha#0", "Alpha#1", "630", "DEV_0"]
    assert [d.title for d in data.documents] == ["Alpha", "Alpha", "", ""]
    assert data.documents[1].text == "Beta is second."
    assert data.queries == [
        # Answers are stripped and deduplicated in order; case differences are kept.
        Query("1", "What is first?", {"Alpha#0": 1}, ("Alpha", "alpha")),
        # Question 2 has no answer and is skipped.
        Query("q3", "What is second?", {"Alpha#1": 1}, ("Beta",)),
        Query("q4", "Which?", {"Alpha#0": 1}, ("Alpha",)),
        Query("5", "Q?", {"630": 1}, ("A",)),
        Query("DEV_0_Q", "问？", {"DEV_0": 1}, ("答",)),
    ]


def test_squad_rejects_one_id_for_two_contexts(tmp_path: Path) -> None:
    paragraphs: list[dict[str, Any]] = [
        {"id": "P", "context": text, "qas": []} for text in ("one", "two")
    ]
    path = _write_json(tmp_path / "bad.json", {"data": [{"paragraphs": paragraphs}]})
    with pytest.raises(ValueError, match="'P'"):
        load_squad(path, "bad")


def _clapnq_record(qid: str, question: str, title: str, text: str, *answers: str) -> dict[str, Any]:
    """The real files' field names: input, passages[{title,text,sentences}], output[]."""
    return {
        "id": qid,
        "input": question,
        "passages": [{"title": title, "text": text, "sentences": [text]}],
        "output": [
            {"answer": a, "selected_sentences": [text], "meta": {"skip": False}} for a in answers
        ],
    }


def _write_clapnq(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _write_jsonl(
        folder / "clapnq_dev_answerable.jsonl",
        [
            _clapnq_record(
                "11",
                "who built it",
                "Wall",
                "The wall was built by many.",
                "Many.",
                "Many.",
                "Lots",
            ),
            _clapnq_record("12", "how long is it", "Wall", "The wall was built by many.", "Long."),
        ],
    )
    _write_jsonl(
        folder / "clapnq_dev_unanswerable.jsonl",
        [
            _clapnq_record("21", "who painted it", "Wall", "The wall is old.", ""),
            _clapnq_record("22", "what is it", "", "Untitled passage.", ""),
        ],
    )


def test_clapnq_keeps_unanswerable_questions_without_relevant_documents(tmp_path: Path) -> None:
    _write_clapnq(tmp_path)
    data = load_clapnq(tmp_path)
    assert data.name == "clapnq"
    # The shared passage is one document; ids count per title in file order.
    assert [(d.id, d.title, d.text) for d in data.documents] == [
        ("Wall#0", "Wall", "The wall was built by many."),
        ("Wall#1", "Wall", "The wall is old."),
        ("passage#0", "", "Untitled passage."),
    ]
    assert data.queries == [
        Query("11", "who built it", {"Wall#0": 1}, ("Many.", "Lots")),
        Query("12", "how long is it", {"Wall#0": 1}, ("Long.",)),
        Query("21", "who painted it", {}),
        Query("22", "what is it", {}),
    ]


MED_ALL = (
    ".I 1\r\n.W\r\ncorrelation between maternal and fetal plasma levels     \r\n"
    "  of glucose .                                                  \r\n"
    ".I 2\r\n.W\r\nchanges of the nucleic acid .\r\n"
    ".I 3\r\n.W\r\nlens proteins .\r\n"
)
MED_QRY = ".I 1\r\n.W\r\n the crystalline lens in vertebrates.\r\n.I 2\r\n.W\r\n fetal glucose.\r\n"


def _write_med(folder: Path, rel: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MED.ALL").write_bytes(MED_ALL.encode())
    (folder / "MED.QRY").write_bytes(MED_QRY.encode())
    (folder / "MED.REL").write_bytes(rel.encode())


@pytest.mark.parametrize(
    "rel",
    ["1 3 1\r\n1 2 1\r\n1 1 0\r\n", "1 0 3 1\r\n1 0 2 1\r\n1 0 1 0\r\n"],
    ids=["qid-docid-grade", "trec"],
)
def test_med_reads_smart_records_and_both_judgment_layouts(tmp_path: Path, rel: str) -> None:
    _write_med(tmp_path, rel)
    data = load_med(tmp_path)
    assert data.name == "med"
    assert [d.id for d in data.documents] == ["1", "2", "3"]
    # Wrapping and column padding collapse to single spaces.
    assert data.documents[0].text == (
        "correlation between maternal and fetal plasma levels of glucose ."
    )
    assert data.queries == [
        Query("1", "the crystalline lens in vertebrates.", {"3": 1, "2": 1}),  # grade 0 dropped
        Query("2", "fetal glucose.", {}),  # no judgments
    ]


def test_med_rejects_a_malformed_judgment_line(tmp_path: Path) -> None:
    _write_med(tmp_path, "1 3 1\n1 2\n")
    with pytest.raises(ValueError, match=r"MED\.REL:2"):
        load_med(tmp_path)


def _write_beir(folder: Path) -> None:
    (folder / "qrels").mkdir(parents=True)
    _write_jsonl(
        folder / "corpus.jsonl",
        [
            {"_id": "c1", "title": "One", "text": "first text"},
            {"_id": "c2", "title": "", "text": "second text"},
        ],
    )
    _write_jsonl(
        folder / "queries.jsonl",
        [
            {"_id": "q1", "text": "first?"},
            {"_id": "q2", "text": "second?"},
            {"_id": "q3", "text": "none?"},
        ],
    )
    header = "query-id\tcorpus-id\tscore\n"
    (folder / "qrels" / "test.tsv").write_text(header + "q1\tc1\t2\nq1\tc2\t1\nq3\tc1\t0\n")
    (folder / "qrels" / "train.tsv").write_text(header + "q2\tc2\t1\n")


def test_beir_keeps_the_queries_judged_in_the_split(tmp_path: Path) -> None:
    folder = tmp_path / "toy-beir"
    _write_beir(folder)
    data = load_beir(folder)
    assert data.name == "toy-beir"
    assert [(d.id, d.title, d.text) for d in data.documents] == [
        ("c1", "One", "first text"),
        ("c2", "", "second text"),
    ]
    assert data.queries == [
        Query("q1", "first?", {"c1": 2, "c2": 1}),
        Query("q3", "none?", {}),  # judged, but only as not relevant
    ]
    assert load_beir(folder, "train").queries == [Query("q2", "second?", {"c2": 1})]


def test_load_dataset_resolves_names_json_files_and_beir_folders(tmp_path: Path) -> None:
    _write_med(tmp_path / "med", "1 3 1\n")
    _write_clapnq(tmp_path / "clapnq")
    (tmp_path / "covidqa").mkdir()
    _write_json(tmp_path / "covidqa" / "200423_covidQA.json", SQUAD)
    assert len(load_dataset("med", tmp_path).documents) == 3
    assert len(load_dataset("clapnq", tmp_path).queries) == 4
    assert load_dataset("covidqa", tmp_path).name == "covidqa"

    squad = load_dataset(str(_write_json(tmp_path / "mine.json", SQUAD)), tmp_path)
    assert (squad.name, len(squad.queries)) == ("mine", 5)
    _write_beir(tmp_path / "beir")
    assert load_dataset(str(tmp_path / "beir"), tmp_path).name == "beir"


def test_load_dataset_names_the_known_sets_when_it_cannot_resolve(tmp_path: Path) -> None:
    for unknown in ("nope", str(tmp_path), str(tmp_path / "missing.json")):
        with pytest.raises(ValueError, match="covidqa, cmrc2018, clapnq, med"):
            load_dataset(unknown, tmp_path)


# The real sets (../shared/data): parsing only, counts as documented in its README.

needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"shared evaluation data not found at {SHARED_DATA}"
)


def _judgments(queries: list[Query]) -> int:
    return sum(len(q.relevant) for q in queries)


@needs_shared_data
def test_real_covidqa() -> None:
    data = load_dataset("covidqa", SHARED_DATA)
    assert (len(data.documents), len(data.queries)) == (98, 1380)
    assert all(len(q.relevant) == 1 and q.answers for q in data.queries)


@needs_shared_data
def test_real_cmrc2018() -> None:
    data = load_dataset("cmrc2018", SHARED_DATA)
    assert (len(data.documents), len(data.queries)) == (848, 3219)
    assert all(len(q.relevant) == 1 and q.answers for q in data.queries)


@needs_shared_data
def test_real_clapnq() -> None:
    data = load_dataset("clapnq", SHARED_DATA)
    answerable = [q for q in data.queries if q.relevant]
    assert (len(answerable), len(data.queries) - len(answerable)) == (300, 300)
    assert all(q.answers for q in answerable)
    # 297 distinct gold passages behind the answerable half, 300 behind the other.
    assert len(data.documents) == 597


@needs_shared_data
def test_real_med() -> None:
    data = load_dataset("med", SHARED_DATA)
    assert (len(data.documents), len(data.queries), _judgments(data.queries)) == (1033, 30, 696)
    ids = {d.id for d in data.documents}
    assert all(doc in ids for q in data.queries for doc in q.relevant)
