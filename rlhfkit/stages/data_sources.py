"""A stage's data from the config: the ``dataset`` plugin at each ``data.<group>.<split>`` key, the
split by user when there is no validation source (RLHF_DETAILS item 5), and the hygiene filters
of ``data.<group>.filters`` (item 5), each logged with what it changed or dropped:

    data:
      preference:
        filters:
          - {name: scrub_pii}
          - {name: dedupe, prefix_chars: 200}
          - {name: cap_per_user, max_per_user: 200}

A filter is ``factory(**options)(examples) -> (examples, report dict)``
(:func:`rlhfkit.plugins.hookspecs.rlhfkit_data_filters`). Nothing is silent: every filter's
report, and its own in/out counts, are logged and returned for the experiment tracker, and so
are the records each source read, kept and skipped (:func:`load_counts`).

Chat templates (``data.chat_template``): conversational records are rendered to text by the
dataset plugin with the tokenizer it is given (:mod:`rlhfkit.data.chat`). The stages pass the
model bundle's tokenizer to :func:`load_split` / :func:`train_valid`, which resolve the key:

    auto    the tokenizer's own chat template if it has one, else the HH-style fallback
    none    always the HH-style fallback
    <path>  the Jinja chat template in that file, set on the tokenizer first

and hand the resulting tokenizer (None for the fallback) to a dataset factory that takes a
``tokenizer`` parameter by name (the built-in ``files`` does; a factory without one, or with
only ``**kwargs``, is called as before). When records were rendered with the fallback, the
tokenizer gets :data:`rlhfkit.data.chat.HH_CHAT_TEMPLATE` as its chat template. Either way the
tokenizer a stage exports to ``final/`` carries the template its model was trained with.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig

from rlhfkit.errors import ConfigError
from rlhfkit.plugins import PluginManager
from rlhfkit.plugins.config_specs import as_spec, select

log = logging.getLogger(__name__)

CHAT_TEMPLATE_KEY = "data.chat_template"
_CHAT_TEMPLATE_ACCEPTED = "auto, none, or the path of a Jinja chat template file"


def chat_template_choice(cfg: DictConfig) -> str | Path:
    """``data.chat_template`` checked: ``"auto"`` (also when the key is absent), ``"none"``, or
    the :class:`Path` of an existing, non-empty template file; anything else is a one-line
    :class:`ConfigError` naming the key. Stages call it before the model loads."""
    value = select(cfg, CHAT_TEMPLATE_KEY)
    if value is None or value == "auto":
        return "auto"
    if value == "none":
        return "none"
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"config key '{CHAT_TEMPLATE_KEY}': {value!r} is not accepted; accepted: {_CHAT_TEMPLATE_ACCEPTED}")
    path = Path(value).expanduser()
    if not path.is_file():
        raise ConfigError(f"config key '{CHAT_TEMPLATE_KEY}': no chat template file at '{value}'; "
                          f"accepted: {_CHAT_TEMPLATE_ACCEPTED}")
    if not path.read_text(encoding="utf-8").strip():
        raise ConfigError(f"config key '{CHAT_TEMPLATE_KEY}': the chat template file '{value}' is empty")
    return path


def rendering_tokenizer(cfg: DictConfig, tokenizer: Any) -> Any:
    """The tokenizer conversational data is rendered with under ``data.chat_template`` (module
    doc): ``tokenizer`` itself (with the file's template set on it, for a path), or None for the
    HH fallback (``none``)."""
    choice = chat_template_choice(cfg)
    if tokenizer is None or choice == "none":
        return None
    if isinstance(choice, Path):
        template = choice.read_text(encoding="utf-8")
        if getattr(tokenizer, "chat_template", None) != template:
            log.info("%s: chat template from %s set on the tokenizer", CHAT_TEMPLATE_KEY, choice)
            tokenizer.chat_template = template
    return tokenizer


def takes_tokenizer(factory: Callable[..., Any]) -> bool:
    """True when ``factory`` has a parameter named ``tokenizer`` (``**kwargs`` alone does not count:
    such a factory may hand its options on to something that does not expect one)."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    param = params.get("tokenizer")
    return param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)


def _note_template(examples: list, key: str, tokenizer: Any) -> None:
    """Log which format conversations were rendered in; records rendered with the HH fallback put
    :data:`~rlhfkit.data.chat.HH_CHAT_TEMPLATE` on ``tokenizer``, so its export says so."""
    from rlhfkit.data.chat import HH_CHAT_TEMPLATE
    from rlhfkit.data.formats import RENDERED_FALLBACK, RENDERED_TEMPLATE

    report = getattr(examples, "report", None)
    notes = getattr(report, "notes", None) or {}
    if notes.get(RENDERED_TEMPLATE):
        log.info("%s: %d conversations rendered with the tokenizer's chat template", key, notes[RENDERED_TEMPLATE])
    if notes.get(RENDERED_FALLBACK):
        log.info("%s: %d conversations rendered with the HH-style fallback (%s=none, or the tokenizer has no "
                 "chat template); the exported tokenizer carries it as its chat template",
                 key, notes[RENDERED_FALLBACK], CHAT_TEMPLATE_KEY)
        if tokenizer is not None:
            tokenizer.chat_template = HH_CHAT_TEMPLATE


def load_split(cfg: DictConfig, plugins: PluginManager, key: str, kind: str,
               counts: dict[str, float] | None = None, tokenizer: Any = None) -> list:
    """Examples from the dataset plugin named at config ``key`` (e.g. ``data.sft.train``).

    ``counts``, if given, gets :func:`load_counts` of the source, so the records an
    ``on_error: skip`` source dropped reach the stage's ``metrics.json``, not only the log.
    ``tokenizer``: the model's; conversational records are rendered in its chat template as
    ``data.chat_template`` says (module doc), when the plugin takes a ``tokenizer``.
    """
    spec = as_spec(cfg, key)
    extra: dict[str, Any] = {}
    if tokenizer is not None and "name" in spec:
        factory = plugins.get("dataset", spec["name"], config_key=f"{key}.name")
        if takes_tokenizer(factory):
            extra["tokenizer"] = rendering_tokenizer(cfg, tokenizer)
    examples = plugins.build("dataset", spec, key, kind=kind, **extra)
    if not examples:
        raise ConfigError(f"config key '{key}': the data source produced no examples")
    log.info("%s: %d %s examples", key, len(examples), kind)
    if counts is not None:
        counts.update(load_counts(examples, key))
    _note_template(examples, key, tokenizer)
    return examples


def load_counts(examples: list, key: str) -> dict[str, int]:
    """``data/<group>/<split>/{records, examples, skipped, skipped/<field>, notes/<name>}`` of a source.

    From the :class:`~rlhfkit.data.formats.LoadReport` at ``examples.report`` (the ``files``
    plugin returns :class:`~rlhfkit.data.formats.LoadedExamples`); a plugin that returns a plain
    list has no report, and only its example count is known.
    """
    prefix = key.replace(".", "/") + "/"
    report = getattr(examples, "report", None)
    if report is None:
        return {f"{prefix}examples": len(examples)}
    return report.as_dict(prefix=prefix)


def train_valid(cfg: DictConfig, plugins: PluginManager, group: str, kind: str, valid_fraction: float,
                prepare: Callable[[list, str], list] | None = None,
                counts: dict[str, float] | None = None, tokenizer: Any = None) -> tuple[list, list]:
    """``data.<group>.train`` and ``.valid``; without a valid source, a split by user id (item 5).

    ``prepare(examples, config_key)``, if given, runs on each loaded source before the split (e.g.
    the hygiene filters of :func:`filter_hook`, so users are capped before splitting).
    ``counts`` gets each source's load counts (:func:`load_counts`). ``tokenizer``: see
    :func:`load_split`.
    """
    from rlhfkit.data import split_by_user

    def load(key: str) -> list:
        examples = load_split(cfg, plugins, key, kind, counts, tokenizer=tokenizer)
        return prepare(examples, key) if prepare is not None else examples

    train = load(f"data.{group}.train")
    if select(cfg, f"data.{group}.valid") is not None:
        return train, load(f"data.{group}.valid")
    if not 0 < valid_fraction < 1:
        raise ConfigError(f"stage.valid_fraction must be in (0, 1) when data.{group}.valid is null, got {valid_fraction}")
    train, valid, report = split_by_user(train, valid_fraction, seed=cfg.seed)
    log.info("data.%s: split by user: %s", group, report)
    if not valid or not train:
        raise ConfigError(f"data.{group}: splitting {len(train) + len(valid)} examples by user left an empty split; "
                         f"set data.{group}.valid or change stage.valid_fraction")
    return train, valid


def filter_keys(cfg: DictConfig, group: str) -> list[tuple[str, str]]:
    """``(kind, config key)`` of each filter at ``data.<group>.filters``, for :func:`check_names`."""
    specs = select(cfg, f"data.{group}.filters")
    if specs is None:
        return []
    if not isinstance(specs, ListConfig):
        raise ConfigError(f"config key 'data.{group}.filters' must be a list of {{name: ..., ...}} specs, "
                         f"got {type(specs).__name__}")
    return [("data_filter", f"data.{group}.filters[{i}]") for i in range(len(specs))]


def _prefixed(report: dict[str, Any], prefix: str) -> dict[str, float]:
    out = {}
    for key, value in report.items():
        short = key[len("data/hygiene/"):] if key.startswith("data/hygiene/") else key
        out[f"{prefix}{short}"] = value
    return out


def apply_filters(examples: list, cfg: DictConfig, plugins: PluginManager, group: str,
                  where: str = "train") -> tuple[list, dict[str, float]]:
    """Run the filters of ``data.<group>.filters`` in order on ``examples``.

    Returns the kept examples and a flat report ``{"data/<group>/<where>/hygiene/<i>_<name>/<key>": n}``
    (each filter's own report plus its ``in``/``out`` counts, so a filter that drops without
    saying so is still caught).
    """
    report: dict[str, float] = {}
    keys = filter_keys(cfg, group)
    if not keys:
        log.info("data.%s (%s): no hygiene filters configured (data.%s.filters is empty)", group, where, group)
        return examples, report
    for _, key in keys:
        spec = as_spec(cfg, key)
        name = spec.get("name", "?")
        step: Callable = plugins.build("data_filter", spec, key)
        n_in = len(examples)
        result = step(examples)
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
            raise TypeError(f"{key}: data filter '{name}' must return (examples, report dict), got {type(result).__name__}")
        examples, step_report = list(result[0]), result[1]
        prefix = f"data/{group}/{where}/hygiene/{key.rsplit('[', 1)[-1].rstrip(']')}_{name}/"
        entry = _prefixed(step_report, prefix) | {f"{prefix}in": n_in, f"{prefix}out": len(examples)}
        report |= entry
        log.info("data.%s (%s) filter %s: %d -> %d examples; report %s", group, where, name, n_in,
                 len(examples), {k[len(prefix):]: v for k, v in entry.items()})
        if not examples:
            raise ValueError(f"{key}: data filter '{name}' left no {where} examples of data.{group}")
    return examples, report


def filter_hook(cfg: DictConfig, plugins: PluginManager, group: str, reports: dict[str, float]) -> Callable[[list, str], list]:
    """A ``prepare(examples, config_key) -> examples`` for :func:`train_valid`
    that applies the filters and adds their reports to ``reports``."""

    def prepare(examples: list, key: str) -> list:
        kept, report = apply_filters(examples, cfg, plugins, group, where=key.rsplit(".", 1)[-1])
        reports.update(report)
        return kept

    return prepare
