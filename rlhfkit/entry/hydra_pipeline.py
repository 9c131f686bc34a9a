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

import rlhfkit.stages  # noqa: F401,E402 (stores the stage config schemas that conf/stage/ composes)
import rlhfkit.run_dirs  # noqa: F401,E402 (the ${run_id:} of conf/hydra/default.yaml)
from rlhfkit.config_dir import config_dir  # noqa: E402
from rlhfkit.composition_check import exit_on_composition_error  # noqa: E402
from rlhfkit.quiet import silence_noise  # noqa: E402

silence_noise()  # no Lightning tips, no deprecation warnings from inside dependencies (rlhfkit/quiet.py)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="pipeline")
def main(cfg: DictConfig) -> None:
    from rlhfkit.pipeline.main import run_pipeline
    from rlhfkit.train_command import run_dir
    from rlhfkit.user_errors import USER_ERRORS

    try:
        path = run_pipeline(cfg, run_dir(), STARTED_AT[0])
    except USER_ERRORS as err:
        print(f"rlhfkit: error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # the workers are already stopped and the running stages left uncached
        print("rlhfkit: interrupted; finished stages stay cached, a rerun resumes from them", file=sys.stderr)
        sys.exit(130)
    print(path, flush=True)
    STARTED_AT[0] = time.time()


if __name__ == "__main__":
    exit_on_composition_error("pipeline", sys.argv[1:])  # one line, exit 2 (rlhfkit/composition_check.py)
    main()
