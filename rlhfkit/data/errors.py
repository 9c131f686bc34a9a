"""The one error type of the data layer: bad input, located and explained."""

from __future__ import annotations


class DataFormatError(ValueError):
    """A record that cannot be used, with where it is, which field, and why.

    ``origin`` locates the record: ``"train.jsonl:17"`` (1-based line of a JSONL file),
    ``"train.parquet#16"`` / ``"org/name[train]#16"`` (0-based row index, what ``ds[16]`` returns).
    ``field`` is the offending field (``"ranking"``, ``"completions[2]"``, ``"chosen[1].content"``)
    or ``None`` when the whole record or source is at fault.

    >>> str(DataFormatError("train.jsonl:17", "ranking", "not a permutation of 0..3 (got [0, 0, 5, 1])"))
    "train.jsonl:17: field 'ranking': not a permutation of 0..3 (got [0, 0, 5, 1])"
    """

    def __init__(self, origin: str, field: str | None, reason: str) -> None:
        # args keep the constructor arguments so the error pickles (DataLoader workers).
        super().__init__(origin, field, reason)
        self.origin = origin
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        if self.field is None:
            return f"{self.origin}: {self.reason}"
        return f"{self.origin}: field '{self.field}': {self.reason}"
