"""Public QA and retrieval test collections, read into documents plus judged queries.

Every loader yields the same shape so one evaluation loop serves all of them: the
documents are what gets indexed, and each query names the document ids that count
as relevant, so chunk-level search results can be scored at document level.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.records import Document


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    relevant: dict[str, int]
    """Document id -> graded relevance (> 0); empty when the corpus holds no answer."""
    answers: tuple[str, ...] = ()
    """Gold answer strings, for the sets that have them."""


@dataclass
class RetrievalDataset:
    name: str
    documents: list[Document]
    queries: list[Query]


# Named sets, relative to the shared data folder, so callers need not know file layouts.
KNOWN: dict[str, str] = {
    "covidqa": "covidqa/200423_covidQA.json",
    "cmrc2018": "cmrc2018/cmrc2018_dev.json",
    "clapnq": "clapnq",
    "med": "med",
}

CLAPNQ_FILES = ("clapnq_dev_answerable.jsonl", "clapnq_dev_unanswerable.jsonl")


def _unique(texts: Iterable[str]) -> tuple[str, ...]:
    """Answer lists repeat one span per annotator; repeats add nothing to a max over golds."""
    return tuple(dict.fromkeys(t.strip() for t in texts if t.strip()))


def load_squad(path: Path, name: str) -> RetrievalDataset:
    """SQuAD-style JSON: each distinct context is a document, each answered question a query.

    A paragraph's own id (CMRC ``id``, COVID-QA ``document_id``) becomes the document id
    so a result can be traced back to the source file; paragraphs without one get
    ``title#index``. Unanswerable (SQuAD 2.0) questions are skipped: with no answer span
    there is no document to judge retrieval against.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    paragraphs = (
        (article.get("title") or "", paragraph)
        for article in data["data"]
        for paragraph in article["paragraphs"]
    )
    documents: list[Document] = []
    by_context: dict[str, str] = {}
    ids: set[str] = set()
    queries: list[Query] = []
    for index, (title, paragraph) in enumerate(paragraphs):
        context = paragraph["context"]
        doc_id = by_context.get(context)
        if doc_id is None:
            native = paragraph.get("id", paragraph.get("document_id"))
            doc_id = str(native) if native is not None else f"{title or 'doc'}#{index}"
            if doc_id in ids:
                raise ValueError(f"{path}: different contexts share document id {doc_id!r}")
            by_context[context] = doc_id
            ids.add(doc_id)
            documents.append(Document(doc_id, context, title, source=str(path)))
        for qa in paragraph["qas"]:
            answers = _unique(a["text"] for a in qa.get("answers", []))
            if answers:
                queries.append(Query(str(qa["id"]), qa["question"], {doc_id: 1}, answers))
    return RetrievalDataset(name, documents, queries)


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def load_clapnq(folder: Path) -> RetrievalDataset:
    """ClapNQ dev: the corpus is every gold passage of both halves, answerable or not.

    The unanswerable questions stay in (with no relevant documents) because declining
    them is half of what the set measures. Passages carry no id, so one is made from
    the title and a per-title counter, in file order; identical passages are merged.
    """
    documents: list[Document] = []
    ids: dict[tuple[str, str], str] = {}
    per_title: defaultdict[str, int] = defaultdict(int)
    queries: list[Query] = []
    for filename in CLAPNQ_FILES:
        path = folder / filename
        answerable = "unanswerable" not in filename
        for record in _jsonl(path):
            relevant: dict[str, int] = {}
            for passage in record["passages"]:
                key = (passage["title"], passage["text"])
                if key not in ids:
                    title = passage["title"] or "passage"
                    ids[key] = f"{title}#{per_title[title]}"
                    per_title[title] += 1
                    documents.append(
                        Document(ids[key], passage["text"], passage["title"], source=str(path))
                    )
                if answerable:
                    relevant[ids[key]] = 1
            answers = _unique(o["answer"] for o in record["output"]) if answerable else ()
            queries.append(Query(str(record["id"]), record["input"], relevant, answers))
    return RetrievalDataset("clapnq", documents, queries)


def _smart_records(path: Path) -> dict[str, dict[str, str]]:
    """SMART files: ``.I id`` opens a record, ``.X`` lines open its fields (``.W`` text)."""
    records: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(".I "):
            current = records.setdefault(line[3:].strip(), {})
            lines = []
        elif re.fullmatch(r"\.[A-Z]\s*", line):
            lines = current.setdefault(line[1], [])
        else:
            lines.append(line)
    # The text is hard-wrapped and space-padded to 72 columns; the wrapping means nothing.
    return {
        rid: {field: " ".join(" ".join(body).split()) for field, body in fields.items()}
        for rid, fields in records.items()
    }


def load_med(folder: Path) -> RetrievalDataset:
    """MEDLINE (SMART format): ``MED.ALL`` abstracts, ``MED.QRY`` queries, ``MED.REL`` judgments.

    Judgment lines are read either as ``qid docid grade`` (the copy in shared data) or as
    the TREC ``qid 0 docid grade`` layout other copies use.
    """
    documents = [
        Document(rid, fields.get("W", ""), source=str(folder / "MED.ALL"))
        for rid, fields in _smart_records(folder / "MED.ALL").items()
    ]
    judgments = folder / "MED.REL"
    relevant: defaultdict[str, dict[str, int]] = defaultdict(dict)
    for number, line in enumerate(judgments.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) == 3:
            qid, docid, grade = parts
        elif len(parts) == 4:
            qid, _, docid, grade = parts
        else:
            raise ValueError(f"{judgments}:{number}: expected 3 or 4 columns: {line!r}")
        if int(grade) > 0:
            relevant[qid][docid] = int(grade)
    queries = [
        Query(qid, fields.get("W", ""), relevant.get(qid, {}))
        for qid, fields in _smart_records(folder / "MED.QRY").items()
    ]
    return RetrievalDataset("med", documents, queries)


def load_beir(folder: Path, split: str = "test") -> RetrievalDataset:
    """A BEIR folder: only the queries judged in ``qrels/{split}.tsv`` belong to that split.

    Zero-grade judgments mark documents as explicitly not relevant, so they are dropped.
    """
    documents = [
        Document(str(r["_id"]), r["text"], r.get("title") or "", source=str(folder))
        for r in _jsonl(folder / "corpus.jsonl")
    ]
    relevant: dict[str, dict[str, int]] = {}
    with (folder / "qrels" / f"{split}.tsv").open(encoding="utf-8", newline="") as qrels:
        for row in csv.DictReader(qrels, delimiter="\t", quoting=csv.QUOTE_NONE):
            judged = relevant.setdefault(row["query-id"], {})
            if int(row["score"]) > 0:
                judged[row["corpus-id"]] = int(row["score"])
    queries = [
        Query(str(r["_id"]), r["text"], relevant[str(r["_id"])])
        for r in _jsonl(folder / "queries.jsonl")
        if str(r["_id"]) in relevant
    ]
    return RetrievalDataset(folder.name, documents, queries)


def load_dataset(name_or_path: str, data_dir: Path) -> RetrievalDataset:
    """A known set by name (found under ``data_dir``), a SQuAD-style ``.json``, or a BEIR folder."""
    if name_or_path in KNOWN:
        location = data_dir / KNOWN[name_or_path]
        if name_or_path == "clapnq":
            return load_clapnq(location)
        if name_or_path == "med":
            return load_med(location)
        return load_squad(location, name_or_path)
    path = Path(name_or_path)
    if path.suffix.lower() == ".json" and path.is_file():
        return load_squad(path, path.stem)
    if (path / "corpus.jsonl").is_file():
        return load_beir(path)
    raise ValueError(
        f"unknown dataset {name_or_path!r}: use one of {', '.join(KNOWN)}, "
        "a SQuAD-style .json file, or a BEIR folder holding corpus.jsonl"
    )
