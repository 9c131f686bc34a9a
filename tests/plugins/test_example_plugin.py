"""The example third-party plugin: installed as a package, found through its entry point, used in a run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _helpers import REPO_ROOT, run_cli, single_run_dir, write_jsonl

PLUGIN_DIR = REPO_ROOT / "plugins" / "rlhfkit-example-reward"


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory) -> dict[str, str]:
    """pip-installs the plugin into a fresh target directory; the returned env puts it on the path.

    Nothing imports the plugin by its source path: rlhfkit must find it through the
    ``rlhfkit`` entry point recorded in the installed distribution's metadata.
    """
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(PLUGIN_DIR)], check=True, timeout=300)
    assert list(target.glob("rlhfkit_example_reward-0.1.0.dist-info/entry_points.txt"))
    return {"PYTHONPATH": str(target)}


def test_example_plugin_is_listed(installed_plugin):
    result = run_cli("plugins", env=installed_plugin)
    assert result.returncode == 0, result.stderr
    assert "example_reward  [rlhfkit-example-reward 0.1.0]" in result.stdout
    assert "politeness" in result.stdout
    assert run_cli("plugins", "--check", env=installed_plugin).returncode == 0
    assert "politeness" not in run_cli("plugins").stdout  # not installed in the base environment


def test_example_plugin_is_used_in_a_ppo_run(installed_plugin, tmp_path):
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": f"say something {i} :"} for i in range(16)])
    result = run_cli(
        "train", "stage=ppo", "reward=custom", "reward.name=politeness", f"data.prompts.train.path={prompts}", "model.size=nano", "advantage=rloo",
        "stage.total_steps=2", "stage.rollout_batch_size=8", "stage.minibatch_size=8", "stage.max_new_tokens=8",
        "logger=none", f"paths.runs_dir={tmp_path / 'runs'}", env=installed_plugin)
    assert result.returncode == 0, result.stderr[-3000:]
    run = single_run_dir(tmp_path / "runs")
    versions = json.loads((run / "versions.json").read_text())
    reward = [p for p in versions["plugins"] if p["kind"] == "reward"]
    assert reward == [{"kind": "reward", "name": "politeness", "plugin": "example_reward",
                       "distribution": "rlhfkit-example-reward", "version": "0.1.0"}]
