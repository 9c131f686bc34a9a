"""The ``rlhfkit`` command's help and errors, and the start-up noise it keeps off the console."""

from __future__ import annotations

import logging
import re
import warnings

import pytest
from _helpers import run_cli

COMMANDS = {"train", "pipeline", "plugins"}


def listed_commands(text: str) -> set[str]:
    """The command names of the ``commands:`` block of ``rlhfkit --help``."""
    block = text.split("commands:", 1)[1]
    return set(re.findall(r"^  (\w+) {2,}", block, flags=re.MULTILINE))


@pytest.mark.parametrize("flag", ["--help", "-h", "help"])
def test_help_lists_exactly_the_commands(flag):
    result = run_cli(flag)
    assert result.returncode == 0, result.stderr
    assert listed_commands(result.stdout) == COMMANDS
    assert "rlhfkit evaluate" not in result.stdout and "`evaluate`" not in result.stdout
    for command in COMMANDS:
        assert f"rlhfkit {command} " in result.stdout  # each has an example


def test_no_command_prints_the_usage_and_exits_2():
    result = run_cli()
    assert result.returncode == 2
    assert listed_commands(result.stdout + result.stderr) == COMMANDS


def test_unknown_command_is_one_line_naming_the_commands():
    result = run_cli("evaluate")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and all(c in lines[0] for c in COMMANDS), result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_plugins_help(flag):
    result = run_cli("plugins", flag)
    assert result.returncode == 0, result.stderr
    assert "--check" in result.stdout and "--json" in result.stdout


def test_train_help_is_a_short_overview():
    result = run_cli("train", "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    assert len(text.splitlines()) < 80, text
    groups = dict(re.findall(r"^([\w/]+): (.+)$", text, flags=re.MULTILINE))
    assert {"stage", "model", "optim", "trainer"} <= set(groups), text
    assert {"sft", "rm", "ppo"} <= set(groups["stage"].split(", "))
    assert "_schema" not in text  # the ConfigStore's stage schemas are internal
    assert "pipeline/experiment" not in groups  # the pipeline's group, not train's
    assert not re.search(r"^\s*ckpt_path:", text, flags=re.MULTILINE), "the full config dump is printed"
    assert "--cfg job" in text and "rlhfkit train stage=" in text


def test_pipeline_help_is_a_short_overview():
    result = run_cli("pipeline", "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    assert len(text.splitlines()) < 80, text
    assert "rlhfkit pipeline" in text and "--cfg job" in text and "experiment=debug" in text
    assert not re.search(r"^\s*(n_sft|rm_from):", text, flags=re.MULTILINE), "the full config dump is printed"


def test_silence_noise_filters_only_dependencies_deprecations_and_tips():
    from rlhfkit.quiet import RANK_ZERO_LOGGERS, DropLightningTips, silence_noise

    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("always")
        silence_noise()
        silence_noise()  # idempotent
        for module in ("torch.utils._pytree", "pytorch_lightning.utilities._pytree", "transformers", "hydra.core"):
            warnings.warn_explicit("old api", DeprecationWarning, "x.py", 1, module=module)
            warnings.warn_explicit("changes soon", FutureWarning, "x.py", 1, module=module)
        warnings.warn_explicit("dependency's real warning", UserWarning, "x.py", 1, module="torch.nn")
        warnings.warn_explicit("our deprecation", DeprecationWarning, "x.py", 1, module="rlhfkit.stages")
        warnings.warn_explicit("our warning", UserWarning, "x.py", 1, module="rlhfkit.stages")
        warnings.warn_explicit("not torch", DeprecationWarning, "x.py", 1, module="torchy_user_code")
    assert sorted(str(w.message) for w in caught) == [
        "dependency's real warning", "not torch", "our deprecation", "our warning"]

    logger = logging.getLogger(RANK_ZERO_LOGGERS[-1])
    try:
        assert sum(isinstance(f, DropLightningTips) for f in logger.filters) == 1
        tip = logger.makeRecord(logger.name, logging.INFO, "x.py", 1, "💡 Tip: try installing [litlogger](https://pypi.org/project/litlogger/)", (), None)
        info = logger.makeRecord(logger.name, logging.INFO, "x.py", 1, "GPU available: %s", (False,), None)
        assert not logger.filter(tip) and logger.filter(info)
    finally:
        for f in [f for f in logger.filters if isinstance(f, DropLightningTips)]:
            logger.removeFilter(f)


@pytest.mark.slow
def test_a_tiny_run_prints_no_lightning_tips_or_dependency_deprecations(tmp_path, sft_file):
    # callbacks=none: Lightning adds its own ModelCheckpoint, which brings the litmodels tip too
    result = run_cli("train", "stage=sft", f"data.sft.train.path={sft_file}", "debug=fast", "logger=csv",
                     "callbacks=none", f"paths.runs_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    for noise in ("litlogger", "litmodels", "💡 Tip", "is deprecated"):
        assert noise not in output, f"{noise!r} in the output:\n{output[-3000:]}"
