"""The regex audit: every regular expression applied to user text (documents, questions,
answers, names, filter keys, evaluation data), timed on 100,000-character adversarial
inputs, must finish each call within 100 ms; and a test per catastrophic case found.

Python's `re` backtracks and holds the GIL: one pattern that is quadratic (or worse) on
some input freezes the whole API process, health checks included. Each audited use is
timed on the worst of a family of shapes: long runs of one character or token (blanks,
dots, digits, backticks, markers, CJK), after the markers that start the pattern, each
ending in a character that spoils the match. The audit is kept complete by a test that
finds every `re` call in qa/ and fails on one neither audited nor set aside as not
applied to user text.
"""

from __future__ import annotations

import ast
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa import records
from qa import text as qtext
from qa.answer import (
    answer_types,
    assembly,
    grounding,
    history,
    pipeline,
    polarity,
    prompts,
    question_parts,
)
from qa.api import sse
from qa.api.routes.documents import _save_records, duplicate_ids
from qa.errors import InvalidInputError
from qa.eval import metrics
from qa.ingest import chunking, legal_divisions, structure, toc
from qa.ingest.loaders import markdown
from qa.models import e5_windows, token_estimate
from qa.models.special_tokens import SpecialTokenDefuser
from qa.retrieval import contextualise, contextualise_rules
from qa.store.milvus import filters
from tests.ingest.hostile import Overrun, time_cap

PACKAGE = Path(__file__).resolve().parents[2] / "qa"
N = 100_000
LIMIT_S = 0.1
ABORT_S = 2.0
"""A call still running after this is catastrophic: stop it rather than wait hours."""

UNITS = [
    " ", "\t", "\n", ".", "…", "```x\n", "# x\n", "1", "1.", "1,", "第", "一", "(", "[1", "Ab ",
    ". ", "。", "-", "*", "<", "\u2028", "no ",
]  # fmt: skip

Op = Callable[[str], object]


@dataclass(frozen=True)
class Audited:
    key: str
    """The top-level name in qa/ whose pattern this is (see `_regex_uses`)."""
    pattern: re.Pattern[str] | None
    op: str
    """How the code applies it: match, fullmatch, search, sub, split, or each (finditer
    and findall, timed match by match); call: `function` is the linear code that
    replaced a pattern, timed whole."""
    markers: tuple[str, ...] = ()
    """What starts the pattern: each shape is also tried after each marker."""
    function: Op | None = None

    def run(self, text: str) -> float:
        """Seconds of the slowest single match, search or substitution over `text`."""
        if self.op == "each":
            assert self.pattern is not None
            longest, last = 0.0, time.perf_counter()
            for _ in self.pattern.finditer(text):
                now = time.perf_counter()
                longest, last = max(longest, now - last), now
            return max(longest, time.perf_counter() - last)
        start = time.perf_counter()
        if self.op == "call":
            assert self.function is not None
            self.function(text)
        elif self.op == "sub":
            assert self.pattern is not None
            self.pattern.sub("", text)
        else:
            getattr(self.pattern, self.op)(text)
        return time.perf_counter() - start


def _a(key: str, pattern: re.Pattern[str], op: str, *markers: str) -> Audited:
    return Audited(key, pattern, op, markers)


def _replaced(key: str, function: Op, *markers: str) -> Audited:
    return Audited(key, None, "call", markers, function)


def _lines(text: str) -> object:
    return markdown.headings(text, markdown.code_blocks(text))


_S, _T, _P, _AT = (
    "qa.ingest.structure.",
    "qa.text.",
    "qa.answer.polarity.",
    "qa.answer.answer_types.",
)
_LD = "qa.ingest.legal_divisions."
_CR = "qa.retrieval.contextualise_rules."
_DEFUSER = SpecialTokenDefuser(["<|im_start|>", "<|im_end|>", "<repo_name>", "[INST]", "</s>"])
assert _DEFUSER._pattern is not None

AUDITED = [
    _a(_LD + "_EN_MARKER", legal_divisions._EN_MARKER, "match", "Section ", "§", "Part ", "ART. "),
    _a(_LD + "_EN_CLAUSE", legal_divisions._EN_CLAUSE, "match", "(1)", "12(2)", "1"),
    _a(_LD + "_CN_MARKER", legal_divisions._CN_MARKER, "match", "第", "第一条第"),
    _a(_S + "_EN_CLAUSE_LABEL", structure._EN_CLAUSE_LABEL, "fullmatch", "("),
    _a(_S + "_CN_CLAUSE_LABEL", structure._CN_CLAUSE_LABEL, "fullmatch", "第"),
    _replaced("qa.ingest.toc.toc_entry", toc.toc_entry, "x", "Section 1"),
    _replaced("qa.ingest.loaders.markdown.headings", _lines, "# x", "```", "~~~"),
    _a("qa.ingest.chunking._WORD_OR_CJK", chunking._WORD_OR_CJK, "each"),
    _a("qa.ingest.chunking._PARAGRAPH", chunking._PARAGRAPH, "each", "\n"),
    _a(_T + "_CJK", qtext._CJK, "each"),
    _a(_T + "_LATIN_WORD", qtext._LATIN_WORD, "each"),
    _a(_T + "_SENTENCE_END", qtext._SENTENCE_END, "each", ".", "。"),
    _a(_T + "sentence_spans", re.compile(r"[^\n]+"), "each"),
    _a(_T + "_TOKEN", qtext._TOKEN, "each", "1", "a"),
    _a(_T + "_CJK_RUN", qtext._CJK_RUN, "each", "一"),
    _a(_T + "_NUMBER", qtext._NUMBER, "each", "1"),
    _a(_P + "_BOUNDS", polarity._BOUNDS, "sub", "no", "not"),
    _a(_P + "_NEGATION", polarity._NEGATION, "search", "may", "n't"),
    _a(_P + "_LIMIT", polarity._LIMIT, "search", "at", "up"),
    _a(_P + "_CLAUSE", polarity._CLAUSE, "split", " "),
    _a("qa.answer.grounding._LIST_MARK", grounding._LIST_MARK, "sub", "(", "1", " "),
    _a("qa.answer.pipeline._EMPHASIS", pipeline._EMPHASIS, "sub"),
    _a("qa.answer.pipeline._REFUSAL_PHRASES", pipeline._REFUSAL_PHRASES, "search", "do ", "no "),
    _a("qa.answer.prompts._CONTROL", prompts._CONTROL, "sub", "<|", "[", "</"),
    _a("qa.answer.prompts._FENCE", prompts._FENCE, "sub", "<", "< /"),
    *(_a(_AT + "_EN_TYPES", p, "search", "how ", "what ") for _, p in answer_types._EN_TYPES),
    _a(_AT + "_EN_YESNO", answer_types._EN_YESNO, "match", "is", "do"),
    *(_a(_AT + "_ZH_TYPES", p, "search", "哪", "几") for _, p in answer_types._ZH_TYPES),
    _a(_AT + "_ZH_YESNO", answer_types._ZH_YESNO, "search", "吗", "是否"),
    *(
        _a(_AT + "_SPANS", p, "each", "1 ", "Jan ", "第")
        for p in answer_types._SPANS.values()
    ),
    _a("qa.models.special_tokens.SpecialTokenDefuser", _DEFUSER._pattern, "sub", "<|im_", "["),
    _a("qa.api.sse._LINE_BREAKS", sse._LINE_BREAKS, "sub"),
    _a("qa.records._NAME", records._NAME, "fullmatch", "a"),
    _a("qa.store.milvus.filters._KEY", filters._KEY, "match", "a"),
    _a("qa.answer.assembly._MARKER", assembly._MARKER, "sub", " [", "["),
    _replaced("qa.eval.metrics.normalize_answer_en", metrics.normalize_answer_en, "a ", "the"),
    _a("qa.answer.history._SOURCE_LINE", history._SOURCE_LINE, "sub", "[1] ", "[1"),
    _a("qa.models.token_estimate._PIECES", token_estimate._PIECES, "each"),
    _a("qa.retrieval.contextualise._PREFIX", contextualise._PREFIX, "sub", "question", "问题"),
    _a(_CR + "_EN_ELLIPSIS", contextualise_rules._EN_ELLIPSIS, "sub", "and", "what about"),
    _a(_CR + "_EN_SUBJECT", contextualise_rules._EN_SUBJECT, "match", "what is ", "how long"),
    _a(_CR + "_EN_WORD", contextualise_rules._EN_WORD, "each", "a", "'"),
    _a(_CR + "_ZH_ELLIPSIS", contextualise_rules._ZH_ELLIPSIS, "match", "那", "如果"),
    # The pattern written inline in _is_content (applied to each word), repeated here.
    _a(_CR + "_is_content", re.compile(r"['’](?:s|re|ll|ve|d|t)$"), "sub", "'", "’"),
    # The pattern written inline in _smart_records, repeated here.
    _a("qa.eval.datasets._smart_records", re.compile(r"\.[A-Z]\s*"), "fullmatch", ".A"),
    # The pattern written inline in _running_key (applied to one OCR line), repeated here.
    _a("qa.ingest.ocr.layout._running_key", re.compile(r"\d+"), "sub", "1"),
    _a("qa.models.e5_windows._SPACES", e5_windows._SPACES, "sub", " "),
    _a("qa.answer.question_parts._EN_PART", question_parts._EN_PART, "split", " and ", ", "),
    _a("qa.answer.question_parts._ZH_PART", question_parts._ZH_PART, "split", "，", "多"),
    _a("qa.answer.question_parts._EN_ASKS", question_parts._EN_ASKS, "match", "how", "do"),
    _a("qa.answer.question_parts._ZH_ASKS", question_parts._ZH_ASKS, "search", "多", "什"),
]  # fmt: skip

NOT_USER_TEXT = {
    "qa.catalogue.postgres._PLACEHOLDER": "SQL the catalogue writes itself",
    "qa.catalogue.postgres.PostgresBackend": "the configured database URL (QA_CATALOGUE_URL)",
    "qa.store.faiss.generations.GENERATION": "names of generation folders the store creates",
}


def _shapes(markers: tuple[str, ...]) -> list[tuple[str, str]]:
    """(description, text) of each adversarial input: a run of one unit, alone and after
    each marker, ending in a character that spoils a match; and marker-unit pairs."""
    shapes = []
    for unit in UNITS:
        for marker in ("", *markers):
            text = marker + unit * ((N - len(marker)) // len(unit))
            shapes.append((f"{marker!r} + {unit!r} * n + '\\x01'", text[: N - 1] + "\x01"))
    for marker in markers:
        for unit in (" ", "\n"):
            pair = marker + unit
            shapes.append((f"({pair!r}) * n", (pair * (N // len(pair) + 1))[:N]))
    return shapes


def _seconds(audited: Audited, text: str) -> float:
    """The slowest single operation; a catastrophic one is stopped at ABORT_S."""
    try:
        with time_cap(ABORT_S):
            return audited.run(text)
    except Overrun:
        return float("inf")


def _worst(audited: Audited) -> tuple[float, str]:
    worst = (0.0, "")
    for shape, text in _shapes(audited.markers):
        seconds = _seconds(audited, text)
        if seconds > LIMIT_S:
            # A busy machine can stretch a linear call; a slow pattern stays slow.
            seconds = min(seconds, _seconds(audited, text), _seconds(audited, text))
        worst = max(worst, (seconds, shape))
    return worst


@pytest.mark.parametrize("audited", AUDITED, ids=[f"{a.key.removeprefix('qa.')}" for a in AUDITED])
def test_no_pattern_takes_over_100_ms_on_100k_adversarial_characters(audited: Audited) -> None:
    seconds, shape = _worst(audited)
    assert seconds <= LIMIT_S, f"{audited.key} ({audited.op}): {seconds:.3f} s on {shape}"


def _regex_uses() -> set[str]:
    """Every top-level name in qa/ whose definition calls `re.compile` or another `re`
    function: a module constant, a function, or a class."""
    uses = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for statement in ast.parse(path.read_text(encoding="utf-8")).body:
            calls = [
                node
                for node in ast.walk(statement)
                if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "re"
                and node.func.attr != "escape"
            ]
            if not calls:
                continue
            if isinstance(statement, ast.FunctionDef | ast.ClassDef):
                names = [statement.name]
            elif isinstance(statement, ast.Assign):
                names = [t.id for t in statement.targets if isinstance(t, ast.Name)]
            elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                names = [statement.target.id]
            else:
                names = [f"line {statement.lineno}"]
            uses.update(f"{module}.{name}" for name in names)
    return uses


def test_every_regex_in_the_package_is_audited_or_set_aside() -> None:
    covered = {a.key for a in AUDITED} | set(NOT_USER_TEXT)
    missing = _regex_uses() - covered
    assert not missing, f"add these to AUDITED (or NOT_USER_TEXT, with why): {sorted(missing)}"


# --- the catastrophic cases found, each of which took seconds to hours before ---------


def _timed(call: Callable[[], object], limit_s: float) -> float:
    timed = _replaced("", lambda _: call())
    seconds = min(_seconds(timed, "") for _ in range(2))
    assert seconds <= limit_s, f"{seconds:.3f} s, over {limit_s} s"
    return seconds


def test_a_line_of_20000_blanks_is_read_in_linear_time() -> None:
    # The table-of-contents pattern was cubic here: 2.5 s at 1,000 blanks, hours at 20,000.
    line = "x" + " " * 20_000 + "y"
    _timed(lambda: structure.sections(line), LIMIT_S)
    assert not toc.toc_entry(line)
    assert toc.toc_entry("Section 12" + " " * 20_000 + "7")


def test_8000_unclosed_markdown_fences_are_read_in_linear_time() -> None:
    # The fence pattern scanned to the end of the text from each: 1.7 s for these.
    text = "```x\n" * 8_000
    _timed(lambda: markdown.code_blocks(text), 0.2)
    assert markdown.code_blocks(text) == []


def test_a_markdown_heading_with_a_long_gap_is_read_in_linear_time() -> None:
    # The heading pattern's lazy title backtracked over each blank: quadratic.
    line = "# x" + " " * 100_000 + "y"
    _timed(lambda: markdown.headings(line, []), LIMIT_S)
    assert markdown.headings(line, []) == [(0, 1, "x" + " " * 100_000 + "y")]


def test_fences_and_headings_are_matched_in_one_pass() -> None:
    # Each heading was tested against every fence: 3,000 of each took 0.9 s.
    text = "```\n# h\n```\n# k\n" * 3_000
    _timed(lambda: _lines(text), 0.3)
    assert [h[2] for h in _lines(text)] == ["k"] * 3_000


def test_300000_record_ids_are_checked_for_duplicates_in_linear_time() -> None:
    # ids.count(i) for each id: 20,000 took 3.7 s, 300,000 about 14 minutes.
    ids = [f"doc-{i}" for i in range(300_000)] + ["doc-7", "doc-299999"]
    _timed(lambda: duplicate_ids(ids), 0.5)
    assert duplicate_ids(ids) == ["doc-299999", "doc-7"]


def test_an_upload_with_duplicate_ids_is_refused(tmp_path: Path) -> None:
    body = {"records": [{"id": i, "text": "x"} for i in ("a", "b", "a")]}
    with pytest.raises(InvalidInputError, match=r"duplicate id\(s\) \['a'\]"):
        _save_records(json.dumps(body).encode(), tmp_path)


# --- the linear rewrites read normal input exactly as the patterns they replaced -------

_OLD_TOC = re.compile(r"(?:\.{3,}|…+|·{3,}|．{3,}|[ \t]{3,})[ \t]*\d+[ \t]*$")
_OLD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_OLD_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_SHORT = settings(max_examples=400, derandomize=True, database=None, deadline=None)


@_SHORT
@given(st.text(alphabet=list(" \t.…·．1２٣x\u00a0"), max_size=14))
def test_toc_entry_agrees_with_the_pattern_it_replaced(line: str) -> None:
    assert toc.toc_entry(line) == bool(_OLD_TOC.search(line))


@_SHORT
@given(
    st.lists(
        st.sampled_from(["#", "#", " ", "\t", "\n", "`", "```", "~~~", "x", "\u00a0", "\u2028"]),
        max_size=24,
    ).map("".join)
)
def test_fences_and_headings_agree_with_the_patterns_they_replaced(text: str) -> None:
    fences = [(m.start(), m.end()) for m in _OLD_FENCE.finditer(text)]
    found = [
        (m.start(), len(m.group(1)), m.group(2).strip())
        for m in _OLD_HEADING.finditer(text)
        if not any(start <= m.start() < end for start, end in fences)
    ]
    assert markdown.code_blocks(text) == fences
    assert markdown.headings(text, fences) == found
