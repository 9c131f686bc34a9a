"""The stage cache: keys change with the config and with the inputs; DONE is the only proof."""

from __future__ import annotations

from rlhfkit.pipeline.cache import DONE, StageCache, canonical_config, relocatable, stage_key

CFG = {"stage": {"name": "sft", "max_epochs": 2}, "optim": {"lr": 1e-3}, "seed": 0,
       "paths": {"output_dir": "/a"}, "logger": {"wandb": {"name": "x"}}, "trainer": {"max_steps": -1, "enable_progress_bar": True}}


def test_same_config_and_inputs_give_the_same_key():
    assert stage_key(CFG, {"world": "abc"}, "1") == stage_key(dict(CFG), {"world": "abc"}, "1")
    assert len(stage_key(CFG, {}, "1")) == 12


def test_a_config_change_gives_a_new_key():
    changed = {**CFG, "optim": {"lr": 2e-3}}
    assert stage_key(changed, {}, "1") != stage_key(CFG, {}, "1")
    assert stage_key({**CFG, "seed": 1}, {}, "1") != stage_key(CFG, {}, "1")


def test_an_input_change_gives_a_new_key():
    assert stage_key(CFG, {"world": "abc"}, "1") != stage_key(CFG, {"world": "abd"}, "1")
    assert stage_key(CFG, {"world": "abc"}, "1") != stage_key(CFG, {"world": "abc", "sft": "x"}, "1")


def test_the_version_is_part_of_the_key():
    assert stage_key(CFG, {}, "1") != stage_key(CFG, {}, "2")


def test_volatile_keys_do_not_change_the_key():
    moved = {**CFG, "paths": {"output_dir": "/b"}, "logger": {"csv": {}},
             "trainer": {"max_steps": -1, "enable_progress_bar": False}}
    assert stage_key(moved, {}, "1") == stage_key(CFG, {}, "1")
    assert "paths" not in canonical_config(CFG) and canonical_config(CFG)["trainer"] == {"max_steps": -1}


def test_done_marker_is_written_last_and_a_leftover_is_redone(tmp_path):
    cache = StageCache(tmp_path)
    assert not cache.is_done("sft", "k1")
    d = cache.prepare("sft", "k1")
    (d / "partial.bin").write_text("x")
    assert not cache.is_done("sft", "k1")
    d = cache.prepare("sft", "k1")  # a crashed run's directory (no DONE) is emptied
    assert not (d / "partial.bin").exists()
    cache.finish("sft", "k1", {"wall_s": 1.5, "metrics": {"a": 1.0}})
    assert cache.is_done("sft", "k1") and (d / DONE).read_text().strip() == "k1"
    assert cache.meta("sft", "k1")["wall_s"] == 1.5
    (d / "final.bin").write_text("y")
    cache.prepare("sft", "k1")  # a finished directory is never wiped
    assert (d / "final.bin").exists()


def test_paths_under_the_cache_root_or_runs_dir_do_not_change_the_key():
    def cfg(runs: str) -> dict:
        return {**CFG, "model": {"path": f"{runs}/cache/sft-abc/final"},
                "data": {"sft": {"train": {"path": f"{runs}/cache/world-123/sft.jsonl"}}, "extra": [f"{runs}/notes"]}}

    def key(runs: str) -> str:
        return stage_key(cfg(runs), {"world": "123"}, "1", roots={"cache": f"{runs}/cache", "runs": runs})

    assert key("/a/runs") == key("/b/somewhere/else/runs")
    assert key("/a/runs") != stage_key(cfg("/a/runs"), {"world": "123"}, "1")  # roots=None: paths hashed as they are
    assert relocatable(cfg("/a/runs"), {"cache": "/a/runs/cache", "runs": "/a/runs"})["model"]["path"] == \
        "<cache>/sft-abc/final"


def test_a_path_outside_the_roots_still_changes_the_key():
    roots = {"cache": "/a/runs/cache"}
    assert stage_key({"p": "/data/x.jsonl"}, {}, "1", roots=roots) != stage_key({"p": "/data/y.jsonl"}, {}, "1", roots=roots)
    # whole path components only: a sibling whose name starts like the root is not under it
    assert relocatable({"p": "/a/runs/cache2/x"}, roots) == {"p": "/a/runs/cache2/x"}


def test_the_stage_caches_key_maps_relative_and_absolute_spellings_of_its_root_alike(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative, absolute = StageCache("runs/cache", "runs"), StageCache(tmp_path / "runs" / "cache", tmp_path / "runs")
    assert relative.key({"p": "runs/cache/world-1/a.jsonl"}, {}, "1") == \
        absolute.key({"p": str(tmp_path / "runs/cache/world-1/a.jsonl")}, {}, "1")
    moved = StageCache(tmp_path / "moved" / "cache", tmp_path / "moved")
    assert moved.key({"p": str(tmp_path / "moved/cache/world-1/a.jsonl")}, {}, "1") == relative.key(
        {"p": "runs/cache/world-1/a.jsonl"}, {}, "1")
