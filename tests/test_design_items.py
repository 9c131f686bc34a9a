"""Every "item N" cited in code, config and docs names an item of docs/rlhf_details.md, and no
file points at a path on a developer's machine."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DETAILS = ROOT / "docs" / "rlhf_details.md"
SCANNED = ("rlhfkit", "conf", "plugins", "benchmarks", "docs", "README.md")
CITING_SUFFIXES = {".py", ".yaml", ".yml", ".md"}
TEXT_SUFFIXES = CITING_SUFFIXES | {".toml", ".txt", ".cfg", ".ini", ".json", ".sh"}
SKIPPED_DIRS = {"__pycache__", ".venv", ".git", ".pytest_cache"}

ITEM_LINE = re.compile(r"^(\d+)\. ", re.MULTILINE)
_SEP = r"\s*(?:,|&|\band\b)\s*"
_NUM = r"\d+(?:\s*[-\u2013]\s*\d+)?"  # 12 or 12-24 (hyphen or en dash)
CITATION = re.compile(rf"\bitems?\s+({_NUM}(?:{_SEP}{_NUM})*)", re.IGNORECASE)
# an absolute path under the work or home root (see the test below), not a URL segment or a relative path
DEV_PATH = re.compile(r"(?<![\w.~-])/(?:work|home)/")


def item_numbers(text: str) -> list[int]:
    """The item numbers of the design notes, in file order (lines ``N. ...``)."""
    return [int(n) for n in ITEM_LINE.findall(text)]


def cited_numbers(line: str) -> list[int]:
    """Every item number one line cites: "item 9", "items 6, 9, 11", "items 12-24, 34-40", "items 5 and 25"."""
    numbers: list[int] = []
    for match in CITATION.finditer(line):
        for part in re.split(_SEP, match.group(1), flags=re.IGNORECASE):
            low, _, high = part.replace("\u2013", "-").partition("-")
            a, b = int(low), int(high or low)
            numbers.extend(range(min(a, b), max(a, b) + 1))
    return numbers


def undefined_citations(label: str, text: str, defined: set[int]) -> list[str]:
    """``label:line: item N`` for every cited N not in ``defined``."""
    return [
        f"{label}:{lineno}: item {n} is not in docs/rlhf_details.md"
        for lineno, line in enumerate(text.splitlines(), 1)
        for n in cited_numbers(line)
        if n not in defined
    ]


def dev_paths(label: str, text: str) -> list[str]:
    return [
        f"{label}:{lineno}: absolute developer path: {line.strip()[:120]}"
        for lineno, line in enumerate(text.splitlines(), 1)
        if DEV_PATH.search(line)
    ]


def scanned_files(suffixes: Iterable[str], root: Path = ROOT) -> Iterator[Path]:
    suffixes = set(suffixes)
    for name in SCANNED:
        top = root / name
        if top.is_file():
            yield top
        elif top.is_dir():
            for path in sorted(top.rglob("*")):
                if path.is_file() and path.suffix in suffixes and not SKIPPED_DIRS.intersection(path.parts):
                    yield path


def _label(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_details_items_are_1_to_40_in_order():
    assert item_numbers(DETAILS.read_text(encoding="utf-8")) == list(range(1, 41))


def test_every_cited_item_exists():
    defined = set(item_numbers(DETAILS.read_text(encoding="utf-8")))
    problems: list[str] = []
    for path in scanned_files(CITING_SUFFIXES):
        if path == DETAILS:
            continue
        problems += undefined_citations(_label(path), path.read_text(encoding="utf-8", errors="replace"), defined)
    assert not problems, "\n".join(problems)


def test_no_absolute_developer_paths():
    problems: list[str] = []
    for path in scanned_files(TEXT_SUFFIXES):
        problems += dev_paths(_label(path), path.read_text(encoding="utf-8", errors="replace"))
    assert not problems, "\n".join(problems)


def test_the_checks_can_fail():
    """The parsers on strings: a bogus item and a machine path are reported with file:line."""
    assert cited_numbers("(RLHF_DETAILS items 12-24, 34-40)") == [*range(12, 25), *range(34, 41)]
    assert cited_numbers("items 1 and 7; item 39; items 6-7 and 25; Items 15, 21\u201323") == [1, 7, 39, 6, 7, 25, 15, 21, 22, 23]
    assert cited_numbers("for item in items[:1]: x = 3") == []
    text = "x = 1\n# the magic constant (RLHF_DETAILS item 99)\n"
    assert undefined_citations("scratch.py", text, set(range(1, 41))) == [
        "scratch.py:2: item 99 is not in docs/rlhf_details.md"
    ]
    assert undefined_citations("scratch.py", text, {99}) == []
    machine = "# see /" + "home/alice/notes.md\n"  # split so this file holds no such path itself
    assert dev_paths("scratch.yaml", "ok: 1\n" + machine)[0].startswith("scratch.yaml:2: ")
    assert dev_paths("scratch.md", "https://example.org/" + "work/x and ../shared/data\n") == []
    assert item_numbers("# T\n1. a\n   2. not an item\n2. b\n") == [1, 2]
