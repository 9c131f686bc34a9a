"""`rlhfkit pipeline` as a script of its own (see hydra_train.py for why a script).

``experiment=NAME`` is accepted as an alias of ``pipeline/experiment=NAME`` (the pipeline's
recipes live in conf/pipeline/experiment/, apart from the train recipes of conf/experiment/).
The last line of stdout is the absolute path of report.json.
"""

import time

STARTED_AT = [time.time()]  # start of the current job: the process start, then each job's end (-m)

import sys  # noqa: E402


def _alias_experiment(argv: list[str]) -> list[str]:
    out = []
    for arg in argv:
        for prefix in ("experiment=", "+experiment=", "++experiment="):
            if arg.startswith(prefix):
                arg = "pipeline/experiment=" + arg[len(prefix):]
        out.append(arg)
    return out


sys.argv = [sys.argv[0], *_alias_experiment(sys.argv[1:])]

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

import rlhfkit.stages  # noqa: F401 (stores the stage config schemas that conf/stage/ composes)
from rlhfkit.config_dir import config_dir  # noqa: E402
from rlhfkit.quiet import silence_noise  # noqa: E402

silence_noise()  # no Lightning tips, no deprecation warnings from inside dependencies (rlhfkit/quiet.py)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="pipeline")
def main(cfg: DictConfig) -> None:
    from rlhfkit.train_command import USER_ERRORS, run_dir

    from rlhfkit.pipeline.main import run_pipeline

    try:
        path = run_pipeline(cfg, run_dir(), STARTED_AT[0])
    except USER_ERRORS as err:
        print(f"rlhfkit: error: {err}", file=sys.stderr)
        sys.exit(2)
    print(path, flush=True)
    STARTED_AT[0] = time.time()


if __name__ == "__main__":
    main()
