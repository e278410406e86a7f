"""Numbered headings found in plain text (as PDFs give it), the lines shaped like them
that are not headings, and legal divisions given by JSONL records."""

from __future__ import annotations

import json
from pathlib import Path

from qa.ingest import loaders
from qa.ingest.structure import sections
from qa.records import Document
from tests.ingest.hostile import time_cap


def _labels(text: str) -> dict[str, str]:
    """Each section's label by the first line of its text."""
    return {text[s.start : s.end].split("\n", 1)[0]: s.label for s in sections(text)}


def test_numbered_headings_nest_by_their_numbers() -> None:
    text = (
        "Ward Policy\n1. Purpose\nThis policy sets the rules.\n1.1 Scope\nIt covers all wards.\n"
        "1.1.1 Night Shifts\nTwo nurses at least.\n2. Definitions\nTerms used here.\n"
        "2.1 Patient\nA person in care.\n3.2 Visitors\nVisits end at eight.\n"
    )
    labels = _labels(text)
    assert labels["1.1 Scope"] == "1. Purpose > 1.1 Scope"
    assert labels["1.1.1 Night Shifts"] == "1. Purpose > 1.1 Scope > 1.1.1 Night Shifts"
    assert labels["2.1 Patient"] == "2. Definitions > 2.1 Patient"
    # Its parent "3." was never seen: it does not nest under "2.".
    assert labels["3.2 Visitors"] == "3.2 Visitors"


def test_chinese_numbered_headings_and_legal_divisions_together() -> None:
    text = (
        "第一章 总则\n一、适用范围\n本办法适用于全市图书馆。\n（一）借阅期限\n三十天。\n"
        "（二）续借\n可续借一次。\n二、罚则\n逾期罚款。\n"
        "第二章 附则\n第十条 本办法自公布之日起施行。\n"
    )
    labels = _labels(text)
    assert labels["（一）借阅期限"] == "第一章 总则 > 一、适用范围 > （一）借阅期限"
    assert labels["（二）续借"] == "第一章 总则 > 一、适用范围 > （二）续借"
    assert labels["二、罚则"] == "第一章 总则 > 二、罚则"
    assert labels["第十条 本办法自公布之日起施行。"] == "第二章 附则 > 第十条"


def test_numbered_lines_that_are_not_headings() -> None:
    text = (
        "Intro\nTo apply the cream:\n1. Wash your hands\n2. Apply a thin layer\n3. Cover the area\n"
        "The dose was raised to\n2.5 Millilitres\nor 12.5 mg in children\n"
        "1. The tenant pays the rent monthly.\n"
        "1. Payment is due on the first day of\neach month.\n"
        "10 Downing Street\n2023. 5. 1 Board Meeting\n"
        "1. Introduction .......... 3\n"
        "1. Results 2023\n"
        "3.14 is roughly pi\n"
        "一、本条所称的借阅证，是指读者证件。\n"
    )
    assert sections(text) == []


def test_numbered_heading_scan_is_linear() -> None:
    hostile = ["1.1.1.1.1 A\n" * 9000, "1. " * 33_000 + "A", "（" * 100_000, "一" * 100_000]
    with time_cap(2):
        for text in hostile:
            sections(text)


def _records(path: Path, records: list[dict[str, object]]) -> list[Document]:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return list(loaders.load(path, "records", max_bytes=1_000_000))


def test_jsonl_division_fields_and_divisions_in_the_text(tmp_path: Path) -> None:
    docs = _records(
        tmp_path / "law.jsonl",
        [
            {
                "id": "en",
                "text": "The landlord repairs the roof.\n(2) Costs are shared.",
                "chapter": 2,
                "article": "5",
            },
            {
                "id": "zh",
                "text": "第五条 出租人应当维修房屋。\n第二款 费用分担。",
                "metadata": {"chapter": "第二章 租赁"},
            },
            {"id": "zh-number", "text": "承租人应当按时支付租金。", "article": 8},
            {"id": "inline", "text": "Article 7. Notices\nNotices are written."},
        ],
    )
    by_id = {doc.id: [(s.label, doc.text[s.start : s.end]) for s in doc.sections] for doc in docs}
    assert by_id["en"] == [
        ("Chapter 2 > Article 5", "The landlord repairs the roof.\n"),
        ("Chapter 2 > Article 5 > (2)", "(2) Costs are shared."),
    ]
    assert [label for label, _ in by_id["zh"]] == [
        "第二章 租赁 > 第五条",
        "第二章 租赁 > 第五条 > 第二款",
    ]
    assert by_id["zh-number"] == [("第8条", "承租人应当按时支付租金。")]
    assert by_id["inline"][0][0] == "Article 7. Notices"
    assert docs[0].metadata == {"chapter": 2, "article": "5"}
