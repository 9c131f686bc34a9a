"""`rlhfkit train` as a script of its own.

Lightning's DDP launcher restarts the *script* in each child process with the same Hydra
overrides, so the Hydra main lives in a file that can be run directly, in a folder that holds
nothing else (the folder of a script goes on sys.path).
"""

import sys

import hydra
from omegaconf import DictConfig

import rlhfkit.stages  # noqa: F401 (stores the stage config schemas that conf/stage/ composes)
import rlhfkit.run_dirs  # noqa: F401 (the ${run_id:} of conf/hydra/default.yaml)
from rlhfkit.config_dir import config_dir
from rlhfkit.composition_check import exit_on_composition_error
from rlhfkit.quiet import silence_noise

silence_noise()  # no Lightning tips, no deprecation warnings from inside dependencies (rlhfkit/quiet.py)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def main(cfg: DictConfig) -> float | None:
    from rlhfkit.train_command import run_with_clean_errors

    return run_with_clean_errors(cfg)


if __name__ == "__main__":
    exit_on_composition_error("config", sys.argv[1:])  # one line, exit 2 (rlhfkit/composition_check.py)
    main()
