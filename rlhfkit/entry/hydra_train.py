"""`rlhfkit train` as a script of its own.

Lightning's DDP launcher restarts the *script* in each child process with the same Hydra
overrides, so the Hydra main lives in a file that can be run directly, in a folder that holds
nothing else (the folder of a script goes on sys.path).
"""

import hydra
from omegaconf import DictConfig

from rlhfkit.config_dir import config_dir


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def main(cfg: DictConfig) -> float | None:
    from rlhfkit.run import run_with_clean_errors

    return run_with_clean_errors(cfg)


if __name__ == "__main__":
    main()
