"""Secrets masked in every file a run writes (rlhfkit.secret_masking), and no other key masked."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from _helpers import run_cli, single_run_dir
from omegaconf import OmegaConf

from rlhfkit.secret_masking import (
    MASK,
    is_secret_key,
    mask_argv,
    mask_config,
    mask_override,
    mask_text,
    masked_argv,
    secret_values,
)

SECRET = "hf_SECRETSECRET123"
WANDB_SECRET = "wk_SECRETSECRET456abcdef"
ENV_SECRET = "env_SECRETSECRET789"


@pytest.mark.parametrize("name", [
    "WANDB_API_KEY", "hf_token", "HF_TOKEN", "access_token", "client_secret", "db_password", "apiKey", "clientSecret",
    "x-api-key", "AWS_SECRET_ACCESS_KEY", "private_key", "sshPrivateKey", "auth_key", "passwd", "credentials",
    "apikey", "hydra.job.env_set.HF_TOKEN", "APIKey", "github.token",
])
def test_secret_keys(name):
    assert is_secret_key(name)


@pytest.mark.parametrize("name", [
    "tokenizer", "max_new_tokens", "token_counter", "group_key", "key", "kl_key", "tokens", "my_tokenizer_name",
    "pad_token", "eos_token", "token_id", "keyword", "api", "sort_key", "monkey", "secretary", "",
])
def test_harmless_keys(name):
    assert not is_secret_key(name)


@pytest.mark.parametrize(("override", "masked"), [
    ("+hf_token=xyz", "+hf_token=***"),
    ("++hf_token=xyz", "++hf_token=***"),
    ("~hf_token=xyz", "~hf_token=***"),
    ("~hf_token", "~hf_token"),
    ("hf_token='a b,c'", "hf_token=***"),
    ("model.api_key=[a,b]", "model.api_key=***"),
    ("+my_tokenizer_name=keepme", "+my_tokenizer_name=keepme"),
    ("stage.max_new_tokens=8", "stage.max_new_tokens=8"),
    ("data.sft.train.path=/x/token=1", "data.sft.train.path=/x/token=1"),
    # Hydra's job.override_dirname and a command line: each secret override inside is masked
    ("debug=fast,+hf_token=xyz,+my_tokenizer_name=keepme", "debug=fast,+hf_token=***,+my_tokenizer_name=keepme"),
    ("rlhfkit train +wandb_api_key=abc seed=1", "rlhfkit train +wandb_api_key=*** seed=1"),
])
def test_mask_override(override, masked):
    assert mask_override(override) == masked


def test_mask_config_masks_secret_keys_and_their_values_elsewhere_and_nothing_else():
    config = {"hf_token": SECRET, "model": {"tokenizer": "bytes", "db_password": "short"},
              "stage": {"max_new_tokens": 8, "group_key": "group"},
              "callbacks": {"token_counter": {"path": "/runs/tokens.json"}},
              "url": f"https://user:{SECRET}@host/x", "unset_token": None, "use_auth_token": True,
              "creds": {"client_secret": {"nested": "whole subtree"}}, "overrides": [f"+hf_token={SECRET}", "seed=1"]}
    masked = mask_config(config)
    assert masked["hf_token"] == MASK and masked["model"]["db_password"] == MASK
    assert masked["url"] == f"https://user:{MASK}@host/x"
    assert masked["creds"]["client_secret"] == MASK and masked["overrides"] == ["+hf_token=***", "seed=1"]
    assert masked["model"]["tokenizer"] == "bytes" and masked["stage"] == {"max_new_tokens": 8, "group_key": "group"}
    assert masked["callbacks"] == config["callbacks"]
    assert masked["unset_token"] is None and masked["use_auth_token"] is True  # nothing to hide in unset or a flag
    assert SECRET not in json.dumps(masked)
    assert config["hf_token"] == SECRET  # a copy: the config the run uses is untouched


def test_values_of_secret_environment_variables_are_masked_wherever_they_were_interpolated(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", ENV_SECRET)
    monkeypatch.setenv("SHORT_TOKEN", "abc")  # too short to search for: "abc" stays in text
    cfg = OmegaConf.create({"model": {"path": "hub/${oc.env:HF_TOKEN}/m", "name": "abc"}})
    masked = mask_config(OmegaConf.to_container(cfg, resolve=True))
    assert masked == {"model": {"path": f"hub/{MASK}/m", "name": "abc"}}
    assert ENV_SECRET in secret_values({}) and mask_text(f"x {ENV_SECRET} y", secret_values({})) == "x *** y"
    assert mask_argv(["a", f"b={ENV_SECRET}", "+db_password=pw"]) == ["a", "b=***", "+db_password=***"]


def test_masked_argv_is_restored(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["prog", f"+hf_token={SECRET}", "seed=1"])
    with masked_argv():
        assert sys.argv == ["prog", "+hf_token=***", "seed=1"]
    assert sys.argv == ["prog", f"+hf_token={SECRET}", "seed=1"]  # Lightning's DDP launcher re-runs the real one


def test_mask_hydra_files_rewrites_only_what_holds_a_secret(tmp_path):
    from rlhfkit.stages.run_files import mask_hydra_files

    hydra = tmp_path / "run" / ".hydra"
    hydra.mkdir(parents=True)
    (hydra / "overrides.yaml").write_text(yaml.safe_dump([f"+hf_token={SECRET}", "+my_tokenizer_name=keepme"]))
    (hydra / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {
        "overrides": {"task": [f"+hf_token={SECRET}", "+my_tokenizer_name=keepme"]},
        "job": {"override_dirname": f"+hf_token={SECRET},+my_tokenizer_name=keepme", "name": "x"},
        "run": {"dir": "${paths.runs_dir}/x"}}}))
    (hydra / "config.yaml").write_text(yaml.safe_dump({"hf_token": SECRET, "my_tokenizer_name": "keepme",
                                                      "out": "${hydra:runtime.output_dir}"}))
    (hydra / "clean.yaml").write_text("seed: 0\n")
    (tmp_path / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"overrides": {"task": [f"+hf_token={SECRET}"]}}}))
    before = (hydra / "clean.yaml").stat().st_mtime_ns
    changed = mask_hydra_files(tmp_path / "run")
    assert {p.name for p in changed} == {"overrides.yaml", "hydra.yaml", "config.yaml", "multirun.yaml"}
    for path in [*hydra.iterdir(), tmp_path / "multirun.yaml"]:
        assert SECRET not in path.read_text(), path
    assert (hydra / "clean.yaml").stat().st_mtime_ns == before
    config = yaml.safe_load((hydra / "config.yaml").read_text())
    assert config == {"hf_token": MASK, "my_tokenizer_name": "keepme", "out": "${hydra:runtime.output_dir}"}
    job = yaml.safe_load((hydra / "hydra.yaml").read_text())["hydra"]["job"]
    assert job["override_dirname"] == "+hf_token=***,+my_tokenizer_name=keepme"
    assert mask_hydra_files(tmp_path / "run") == []  # already masked: left alone (DDP ranks run this too)
    assert not list(hydra.glob(".*.tmp"))


def test_pipeline_report_command_and_config_are_masked(monkeypatch):
    from rlhfkit.pipeline.main import masked_invocation

    monkeypatch.setenv("WANDB_API_KEY", ENV_SECRET)
    cfg = OmegaConf.create({"hf_token": SECRET, "report": {"key": "${oc.env:WANDB_API_KEY}"}, "seed": 0})
    command, config = masked_invocation(cfg, ["experiment=debug", f"+hf_token={SECRET}", f"x={ENV_SECRET}"])
    assert command == "rlhfkit pipeline experiment=debug +hf_token=*** x=***"
    assert config == {"hf_token": MASK, "report": {"key": MASK}, "seed": 0}


def files_holding(root: Path, *needles: str) -> list[str]:
    """Every file under ``root`` (binary ones too: W&B's .wandb transaction log) holding a needle."""
    return sorted(str(p) for p in root.rglob("*") if p.is_file() and any(n.encode() in p.read_bytes() for n in needles))


TINY_SFT = ["stage=sft", "model=tiny", "debug=fast"]


@pytest.mark.slow
def test_a_train_run_writes_no_secret_anywhere(tmp_path, sft_file):
    result = run_cli("train", *TINY_SFT, f"data.sft.train.path={sft_file}", f"paths.runs_dir={tmp_path}",
                     f"+hf_token={SECRET}", f"+wandb_api_key={WANDB_SECRET}", "+my_tokenizer_name=keepme",
                     "+from_env=${oc.env:HF_TOKEN}", env={"HF_TOKEN": ENV_SECRET})
    assert result.returncode == 0, result.stderr[-3000:]
    run = single_run_dir(tmp_path)
    assert list((run / "wandb").glob("offline-run-*/run-*.wandb")) and (run / ".hydra" / "hydra.yaml").exists()
    assert list(run.glob("*.log")), "Hydra's job log is among the files searched"
    assert files_holding(tmp_path, SECRET, WANDB_SECRET, ENV_SECRET) == []
    resolved = yaml.safe_load((run / "resolved_config.yaml").read_text())
    assert resolved["hf_token"] == MASK and resolved["wandb_api_key"] == MASK and resolved["from_env"] == MASK
    assert resolved["my_tokenizer_name"] == "keepme" and resolved["stage"]["max_new_tokens"] == 8
    assert resolved["model"]["tokenizer"] == "bytes"
    assert "+my_tokenizer_name=keepme" in yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
    assert b"+hf_token=***" in next((run / "wandb").glob("offline-run-*/run-*.wandb")).read_bytes()


@pytest.mark.slow
def test_a_run_that_fails_mid_fit_leaves_no_secret_in_the_wandb_console_log(tmp_path, sft_file):
    # EarlyStopping on a metric nobody logs raises after the first validation, with W&B recording the
    # console; Hydra then prints "Error executing job with overrides: [...]" with the overrides verbatim
    result = run_cli("train", *TINY_SFT, f"data.sft.train.path={sft_file}", f"paths.runs_dir={tmp_path}",
                     f"+hf_token={SECRET}", "+callbacks.boom._target_=pytorch_lightning.callbacks.EarlyStopping",
                     "+callbacks.boom.monitor=not_a_metric")
    assert result.returncode == 1 and "not_a_metric" in result.stderr, result.stderr[-3000:]
    run = single_run_dir(tmp_path)
    assert list((run / "wandb").glob("offline-run-*/files/output.log"))
    assert files_holding(tmp_path, SECRET) == []


@pytest.mark.slow
def test_a_debug_pipeline_writes_no_secret_anywhere(tmp_path):
    # W&B on for the report and one stage (the debug recipe turns it off): W&B records the command line
    wandb_stage = ("++stages.sft_small.set={logger:{wandb:{_target_:rlhfkit.tracking.make_wandb_logger,"
                   f"save_dir:{tmp_path / 'wandb_sft'},mode:offline}}}}}}")
    result = run_cli("pipeline", "experiment=debug", f"paths.runs_dir={tmp_path}", f"+hf_token={SECRET}",
                     f"+wandb_api_key={WANDB_SECRET}", "report.wandb=offline", wandb_stage, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(Path(result.stdout.strip().splitlines()[-1]).read_text())
    assert "+hf_token=***" in report["command"] and report["config"]["hf_token"] == MASK
    assert list(tmp_path.rglob("stage_meta.json")) and len(list(tmp_path.rglob("run-*.wandb"))) == 2
    assert files_holding(tmp_path, SECRET, WANDB_SECRET) == []
    stage = yaml.safe_load(next(tmp_path.rglob("sft_small-*/resolved_config.yaml")).read_text())
    assert stage["callbacks"]["token_counter"]["_target_"] == "rlhfkit.evaluate.flops.TokenCounter"  # not masked
