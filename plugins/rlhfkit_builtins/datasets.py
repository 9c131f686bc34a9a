"""Built-in data sources: ``files`` (local JSONL/JSON/Parquet/saved datasets, or a hub name)."""

from rlhfkit import hookimpl


def files(kind: str, path: str, format: str = "auto", split: str = "train", limit: int | None = None,
          on_error: str = "raise", tokenizer=None, **hub_kwargs):
    """Examples of ``kind`` from a local file or directory, or a hub dataset through ``datasets``.

    ``format`` is one of :data:`rlhfkit.data.FORMATS` or "auto" (detected from the keys).
    ``on_error="skip"`` drops bad records, logging each and their count; "raise" stops at the first.
    ``tokenizer`` (given by the stage, not the config: the model's, as ``data.chat_template``
    says) renders conversational records with its chat template; None renders the HH fallback.
    Returns a :class:`rlhfkit.data.formats.LoadedExamples`: a list whose ``.report`` carries the
    counts (records, examples, skipped by field, conversations rendered with the template or the
    fallback) that the stage puts into ``metrics.json``.
    """
    from rlhfkit.data.formats import LoadedExamples, load_examples_with_report

    examples, report = load_examples_with_report(path, format, kind=kind, split=split, limit=limit,
                                                 tokenizer=tokenizer, on_error=on_error, **hub_kwargs)
    return LoadedExamples(examples, report)


@hookimpl
def rlhfkit_datasets():
    return {"files": files}
