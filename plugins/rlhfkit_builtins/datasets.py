"""Built-in data sources: ``files`` (local JSONL/JSON/Parquet/saved datasets, or a hub name)."""

from rlhfkit import hookimpl


def files(kind: str, path: str, format: str = "auto", split: str = "train", limit: int | None = None,
          on_error: str = "raise", **hub_kwargs):
    """Examples of ``kind`` from a local file or directory, or a hub dataset through ``datasets``.

    ``format`` is one of :data:`rlhfkit.data.FORMATS` or "auto" (detected from the keys).
    ``on_error="skip"`` drops bad records, logging each and their count; "raise" stops at the first.
    """
    from rlhfkit.data import load_examples

    return load_examples(path, format, kind=kind, split=split, limit=limit, on_error=on_error, **hub_kwargs)


@hookimpl
def rlhfkit_datasets():
    return {"files": files}
