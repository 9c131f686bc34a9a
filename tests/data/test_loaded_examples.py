"""The dataset-plugin contract: ``files`` returns its examples with their LoadReport
(:class:`LoadedExamples`, a list), and :func:`load_split` turns the report into counts for
metrics.json; a third-party plugin that returns a plain list keeps working."""

from __future__ import annotations

import pickle
import types

from _helpers import write_jsonl
from omegaconf import OmegaConf

from rlhfkit import hookimpl
from rlhfkit.data import SFTExample
from rlhfkit.data.formats import LoadedExamples, LoadReport
from rlhfkit.plugins import PluginManager
from rlhfkit.stages.data_sources import load_counts, load_split

ROWS = [{"prompt": "p1", "completion": " c"}, {"prompt": "p2"}, {"prompt": "p3", "completion": " c"}]


def test_files_plugin_returns_a_list_with_its_report(tmp_path):
    path = write_jsonl(tmp_path / "sft.jsonl", ROWS)
    examples = PluginManager().build("dataset", {"name": "files", "path": str(path), "on_error": "skip"}, "data",
                                     kind="sft")
    assert isinstance(examples, list) and [e.prompt for e in examples] == ["p1", "p3"]
    assert examples.report.n_records == 3 and dict(examples.report.skipped) == {"completion": 1}
    again = pickle.loads(pickle.dumps(examples))  # DataLoader workers may pickle it
    assert again == examples and again.report.n_skipped == 1


def test_load_split_counts_skips_under_the_config_key(tmp_path):
    path = write_jsonl(tmp_path / "sft.jsonl", ROWS)
    cfg = OmegaConf.create({"data": {"sft": {"train": {"name": "files", "path": str(path), "on_error": "skip"}}}})
    counts: dict = {}
    examples = load_split(cfg, PluginManager(), "data.sft.train", "sft", counts)
    assert len(examples) == 2
    assert counts == {"data/sft/train/records": 3, "data/sft/train/examples": 2, "data/sft/train/skipped": 1,
                      "data/sft/train/skipped/completion": 1}


def test_a_plugin_returning_a_plain_list_still_works():
    @hookimpl
    def rlhfkit_datasets():
        return {"plain": lambda kind, **kw: [SFTExample("p", " c", "mem#0"), SFTExample("q", " c", "mem#1")]}

    manager = PluginManager(load_entrypoints=False)
    manager.register(types.SimpleNamespace(rlhfkit_datasets=rlhfkit_datasets), name="plain_plugin")
    cfg = OmegaConf.create({"data": {"sft": {"train": {"name": "plain"}}}})
    counts: dict = {}
    examples = load_split(cfg, manager, "data.sft.train", "sft", counts)
    assert type(examples) is list and len(examples) == 2
    assert counts == {"data/sft/train/examples": 2}  # no report: only what is known


def test_load_counts_of_a_report():
    report = LoadReport(source="x", kind="sft", n_records=5, n_examples=3)
    report.skipped.update({"prompt": 2})
    assert load_counts(LoadedExamples(["a", "b", "c"], report), "data.prompts.train") == {
        "data/prompts/train/records": 5, "data/prompts/train/examples": 3, "data/prompts/train/skipped": 2,
        "data/prompts/train/skipped/prompt": 2}
