"""The ``rlhfkit`` command.

usage: rlhfkit COMMAND [ARGS]

commands:
  train      run one stage of the recipe (stage=sft|rm|ppo|ppo_ptx|pretrain), a Hydra app
               rlhfkit train stage=sft data.sft.train.path=demos.jsonl stage.lr=3e-4
               rlhfkit train -m stage.lr=1e-4,3e-4          # a sweep
  pipeline   the whole recipe (pretrain, SFT, RM, PPO, evaluation) on the built-in world, cached
               rlhfkit pipeline experiment=debug            # under a minute
  plugins    list the installed plugins and what they provide
               rlhfkit plugins --check                      # also check them; --json for JSON

`rlhfkit COMMAND --help` shows a command's options.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HYDRA_COMMANDS = {
    "train": "hydra_train.py",
    "pipeline": "hydra_pipeline.py",
}
COMMANDS = (*HYDRA_COMMANDS, "plugins")
USAGE = __doc__.split("\n", 2)[2].strip()  # the docstring less its title line
PLUGINS_USAGE = """usage: rlhfkit plugins [--check] [--json]

List the installed rlhfkit plugins (entry-point group `rlhfkit`) and what each provides.
  --check   also run the plugin checks; exit 1 if any fails
  --json    print {"plugins": [...], "problems": [...]} as JSON"""
HELP_FLAGS = ("-h", "--help")


def _run_hydra(script: str, overrides: list[str]) -> int:
    path = Path(__file__).resolve().parent / "entry" / script
    # Lightning's DDP launcher re-runs sys.argv[0] with the same overrides in each child process.
    sys.argv = [str(path), *overrides]
    import runpy

    if not any(arg in HELP_FLAGS for arg in overrides):
        runpy.run_path(str(path), run_name="__main__")
        return 0
    # --help: Hydra prints the template of conf/hydra/help/<command>.yaml and exits; the config
    # groups it lists are tidied first (_tidy_help).
    import contextlib
    import io

    out, code = io.StringIO(), 0
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(str(path), run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    print(_tidy_help(out.getvalue(), command=path.stem.removeprefix("hydra_")), end="")
    return code


def _tidy_help(text: str, command: str) -> str:
    """Drops the internal entries from the ``group: a, b, c`` lines of Hydra's $APP_CONFIG_GROUPS:
    the stage schemas of Hydra's ConfigStore (``stage: sft_schema``, composed by conf/stage/*.yaml)
    and, for ``train``, the pipeline's own recipe group (``pipeline/experiment``)."""
    import re

    lines = []
    for line in text.splitlines(keepends=True):
        match = re.fullmatch(r"([\w/]+): ([\w, ]+)\n?", line)
        if match:
            if command == "train" and match[1].startswith("pipeline/"):
                continue
            options = [o for o in match[2].split(", ") if not o.endswith("_schema")]
            line = f"{match[1]}: {', '.join(options)}\n"
        lines.append(line)
    return "".join(lines)


def plugins_command(args: list[str]) -> int:
    from rlhfkit.plugins import PluginManager
    from rlhfkit.plugins.errors import PluginError

    if any(a in (*HELP_FLAGS, "help") for a in args):
        print(PLUGINS_USAGE)
        return 0
    unknown = [a for a in args if a not in ("--check", "--json")]
    if unknown:
        print(f"rlhfkit plugins: unknown option {unknown[0]}; options: --check, --json", file=sys.stderr)
        return 2
    try:
        manager = PluginManager()
        rows = manager.describe()
        problems = manager.check() if "--check" in args else []
    except PluginError as err:
        print(f"rlhfkit: error: {err}", file=sys.stderr)
        return 2
    if "--json" in args:
        print(json.dumps({"plugins": rows, "problems": problems}, indent=2))
    else:
        for row in rows:
            dist = f"{row['distribution']} {row['version']}" if row["distribution"] else "(not from an entry point)"
            print(f"{row['plugin']}  [{dist}]")
            for kind, names in row["provides"].items():
                print(f"    {kind:<14} {', '.join(names)}")
        if "--check" in args:
            print("\n".join(f"problem: {p}" for p in problems) if problems else "all plugins pass the checks")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in (*HELP_FLAGS, "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in HYDRA_COMMANDS:
        return _run_hydra(HYDRA_COMMANDS[command], rest)
    if command == "plugins":
        return plugins_command(rest)
    print(f"rlhfkit: unknown command '{command}'; commands: {', '.join(COMMANDS)} (rlhfkit --help)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
