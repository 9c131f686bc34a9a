"""Built-in data sources: ``files`` (local JSONL/JSON/Parquet/saved datasets, or a hub name)."""

from rlhfkit import hookimpl


def files(kind: str, path: str, format: str = "auto", split: str = "train", limit: int | None = None,
          on_error: str = "raise", **hub_kwargs):
    """Examples of ``kind`` from a local file or directory, or a hub dataset through ``datasets``.

    ``format`` is one of :data:`rlhfkit.data.FORMATS` or "auto" (detected from the keys).
    ``on_error="skip"`` drops bad records, logging each and their count; "raise" stops at the first.
    Returns a :class:`rlhfkit.data.formats.LoadedExamples`: a list whose ``.report`` carries the
    counts (records, examples, skipped by field) that the stage puts into ``metrics.json``.
    """
    from rlhfkit.data.formats import LoadedExamples, load_examples_with_report

    examples, report = load_examples_with_report(path, format, kind=kind, split=split, limit=limit,
                                                 on_error=on_error, **hub_kwargs)
    return LoadedExamples(examples, report)


@hookimpl
def rlhfkit_datasets():
    return {"files": files}
