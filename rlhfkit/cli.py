"""The ``rlhfkit`` command: ``train``, ``pipeline`` and ``evaluate`` run on Hydra; ``plugins`` lists them.

    rlhfkit train stage=sft model=tiny data.sft.train.path=demos.jsonl optim.lr=3e-4
    rlhfkit train -m optim.lr=1e-4,3e-4          # a sweep
    rlhfkit pipeline                              # the whole recipe on the built-in world
    rlhfkit plugins [--check] [--json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HYDRA_COMMANDS = {
    "train": "hydra_train.py",
    "pipeline": "hydra_pipeline.py",
}
USAGE = __doc__.strip() + "\n"


def _run_hydra(script: str, overrides: list[str]) -> int:
    path = Path(__file__).resolve().parent / "entry" / script
    # Lightning's DDP launcher re-runs sys.argv[0] with the same overrides in each child process.
    sys.argv = [str(path), *overrides]
    import runpy

    runpy.run_path(str(path), run_name="__main__")
    return 0


def plugins_command(args: list[str]) -> int:
    from rlhfkit.plugins import PluginManager
    from rlhfkit.plugins.errors import PluginError

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
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in HYDRA_COMMANDS:
        return _run_hydra(HYDRA_COMMANDS[command], rest)
    if command == "plugins":
        return plugins_command(rest)
    print(f"rlhfkit: unknown command '{command}'; commands: {', '.join([*HYDRA_COMMANDS, 'plugins'])}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
