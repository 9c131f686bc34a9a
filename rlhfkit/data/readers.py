"""Read raw records (dicts) from local files, a ``save_to_disk`` directory, or the Hugging Face hub.

Every record carries an ``origin`` string that error messages quote:

- JSONL (``.jsonl``, ``.jsonl.gz``): ``"path:LINE"``, LINE 1-based as an editor shows it.
  Blank lines are not records and are skipped (line numbers still count them).
- JSON list (``.json``, ``.json.gz``), Parquet (``.parquet``), ``save_to_disk`` directories:
  ``"path#ROW"``, ROW the 0-based row index (``ds[ROW]``).
- Hub datasets: ``"name[split]#ROW"``.

Local text files must be UTF-8: a byte that is not fails with ``"path:LINE: not UTF-8 (byte 0xff
at column N)"``, LINE 1-based and N the 1-based byte column in that line (JSON lists too).

Where a source goes: a string that names an existing file or directory is read locally. A string
that does not exist but *looks like a path* (absolute, ``./``, ``../``, ``~``, two or more ``/``,
or a data-file extension) raises :class:`FileNotFoundError`; it never falls through to the hub,
where a typo would turn into a confusing download error. Anything else is a hub name (or a
``datasets`` builder such as ``"json"``) passed to ``datasets.load_dataset(name, split=split,
**hub_kwargs)``.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlhfkit.data.errors import DataFormatError

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")
JSON_SUFFIXES = (".json", ".json.gz")
PARQUET_SUFFIXES = (".parquet",)
# Extensions that make a missing source "look like a path" (some are not readable, see below).
_PATHLIKE_SUFFIXES = JSONL_SUFFIXES + JSON_SUFFIXES + PARQUET_SUFFIXES + (
    ".csv", ".tsv", ".arrow", ".txt", ".gz", ".zst",
)


@dataclass(frozen=True)
class Record:
    """One raw row and where it came from."""

    origin: str
    row: dict[str, Any]


def looks_like_path(source: str) -> bool:
    """True when ``source`` can only be meant as a local path (never a hub name)."""
    if source.startswith(("/", "./", "../", "~", ".\\", "..\\")) or source in (".", ".."):
        return True
    if len(source) > 1 and source[1] == ":":  # Windows drive letter
        return True
    if "\\" in source or source.count("/") >= 2:  # hub names are "name" or "owner/name"
        return True
    return source.lower().endswith(_PATHLIKE_SUFFIXES)


def read_records(path_or_name: str, split: str = "train", **hub_kwargs: Any) -> Iterator[Record]:
    """Yield :class:`Record` s from a local file/directory or a hub dataset (see module doc).

    ``split`` selects the split of a hub dataset or of a saved ``DatasetDict``; it is ignored for
    single files. ``hub_kwargs`` (``name=``, ``revision=``, ``data_files=``, ``streaming=`` ...)
    go to ``datasets.load_dataset`` and are refused for local sources.
    """
    source = str(path_or_name)
    path = Path(source).expanduser()
    if path.exists():
        if hub_kwargs:
            raise TypeError(
                f"{source}: hub arguments {sorted(hub_kwargs)} only apply to hub datasets, "
                "not to a local file or directory"
            )
        return _read_local(source, path, split)
    if looks_like_path(source):
        raise FileNotFoundError(f"data file not found: {source} (resolved to {path.resolve()})")
    return _read_hub(source, split, hub_kwargs)


def _read_local(source: str, path: Path, split: str) -> Iterator[Record]:
    if path.is_dir():
        return _read_saved_dataset(source, path, split)
    name = path.name.lower()
    if name.endswith(JSONL_SUFFIXES):
        return _read_jsonl(source, path)
    if name.endswith(JSON_SUFFIXES):
        return _read_json_list(source, path)
    if name.endswith(PARQUET_SUFFIXES):
        return _read_parquet(source, path)
    raise DataFormatError(
        source, None,
        "unsupported file type; expected one of "
        + ", ".join(JSONL_SUFFIXES + JSON_SUFFIXES + PARQUET_SUFFIXES)
        + " or a directory written by datasets.Dataset.save_to_disk",
    )


def _open_binary(path: Path):
    """Bytes, not text: decoding is ours, so a bad byte is reported with its line and column."""
    if path.name.lower().endswith(".gz"):
        return io.BufferedReader(gzip.open(path, "rb"), 1 << 16)  # GzipFile's own readline is slow
    return open(path, "rb")


def _not_utf8(origin: str, exc: UnicodeDecodeError, column: int) -> DataFormatError:
    """The one-line error for undecodable bytes; ``column`` is the 1-based byte column in its line."""
    return DataFormatError(origin, None, f"not UTF-8 (byte 0x{exc.object[exc.start]:02x} at column {column})")


def _decode_line(raw: bytes, origin: str) -> str:
    """One JSONL line as text; the error says which byte of the line is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(origin, exc, exc.start + 1) from None


def _decode_file(data: bytes, source: str) -> str:
    """A whole file as text; only on failure is the byte offset turned into line and column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1  # 0 when the bad byte is on line 1
        lineno = data.count(b"\n", 0, exc.start) + 1
        raise _not_utf8(f"{source}:{lineno}", exc, exc.start - line_start + 1) from None


GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def _damaged_gzip(where: str, err: BaseException) -> DataFormatError:
    return DataFormatError(where, None, f"the gzip data is damaged or cut off ({type(err).__name__}: {err})")


def _numbered_lines(fh, source: str) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw bytes) of a file; a damaged .gz names the line it broke at."""
    lineno = 0
    try:
        for lineno, raw in enumerate(fh, start=1):
            yield lineno, raw
    except GZIP_ERRORS as err:
        raise _damaged_gzip(f"{source}:{lineno + 1}", err) from None


def _read_jsonl(source: str, path: Path) -> Iterator[Record]:
    with _open_binary(path) as fh:
        for lineno, raw in _numbered_lines(fh, source):
            origin = f"{source}:{lineno}"
            line = _decode_line(raw, origin)
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(
                    origin, None, f"invalid JSON at column {exc.colno}: {exc.msg}"
                ) from None
            if not isinstance(row, dict):
                raise DataFormatError(
                    origin, None, f"expected a JSON object per line, got {type(row).__name__}"
                )
            yield Record(origin, row)


def _read_json_list(source: str, path: Path) -> Iterator[Record]:
    with _open_binary(path) as fh:
        try:
            data = fh.read()
        except GZIP_ERRORS as err:
            raise _damaged_gzip(source, err) from None
        text = _decode_file(data, source)
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(
            f"{source}:{exc.lineno}", None, f"invalid JSON at column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(rows, list):
        raise DataFormatError(
            source, None,
            f"a .json file must hold a list of objects, got {type(rows).__name__} "
            "(use .jsonl for one object per line)",
        )
    for index, row in enumerate(rows):
        origin = f"{source}#{index}"
        if not isinstance(row, dict):
            raise DataFormatError(origin, None, f"expected a JSON object, got {type(row).__name__}")
        yield Record(origin, row)


def _read_parquet(source: str, path: Path) -> Iterator[Record]:
    import pyarrow.parquet as pq

    index = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            yield Record(f"{source}#{index}", row)
            index += 1


def _read_saved_dataset(source: str, path: Path, split: str) -> Iterator[Record]:
    import datasets

    if not ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()
            or (path / "state.json").exists()):
        raise DataFormatError(
            source, None, "a directory must be one written by datasets.Dataset.save_to_disk "
            "(no dataset_info.json, state.json or dataset_dict.json in it)",
        )
    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise DataFormatError(
                source, None, f"split '{split}' not in the saved DatasetDict (splits: {sorted(ds)})"
            )
        ds = ds[split]
        source = f"{source}[{split}]"
    for index, row in enumerate(ds):
        yield Record(f"{source}#{index}", row)


def _read_hub(name: str, split: str, hub_kwargs: dict[str, Any]) -> Iterator[Record]:
    import datasets

    ds = datasets.load_dataset(name, split=split, **hub_kwargs)
    for index, row in enumerate(ds):
        yield Record(f"{name}[{split}]#{index}", row)


__all__ = ["Record", "looks_like_path", "read_records"]
