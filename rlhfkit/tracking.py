"""Experiment tracking: W&B offline unless the user's environment says online, or CSV.

No API key is ever written to a config or a log: the mode is decided from the environment at run
time and only the mode ("online"/"offline") is recorded. The command line W&B records and the
hyperparameters it is given are masked (:mod:`rlhfkit.secret_masking`). "Online" with no usable
W&B server falls back to offline after a probe of a few seconds (:func:`server_unreachable`)
instead of hanging in W&B's retries and dying with a CommError.

A run records itself: :func:`record_run_config` (called by every stage when its Trainer is
built) makes the stage's whole resolved config, masked, the W&B run's config (next to the
LightningModule's hyperparameters, which Lightning logs), and uploads ``resolved_config.yaml``
as an artifact of type ``config`` (also kept in the run's files, offline runs too).
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
import urllib.error
import urllib.request
from argparse import Namespace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytorch_lightning.loggers import CSVLogger, WandbLogger
from pytorch_lightning.utilities import rank_zero_only

from rlhfkit.errors import ConfigError
from rlhfkit.secret_masking import mask_config, masked_argv

RUN_CONFIG_FILE = "resolved_config.yaml"  # written by rlhfkit.stages.run_files.save_resolved_config

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 3.0  # DNS, connect and the first answer, together; W&B itself retries for ~100 s
_PROBED: dict[str, str | None] = {}  # one probe (and one warning) per server URL per process


def _requested_mode(mode: str) -> str:
    """"auto": online when WANDB_MODE=online or an API key is in the environment, else offline."""
    if mode not in ("auto", "online", "offline", "disabled"):
        raise ConfigError(f"logger.mode: unknown W&B mode '{mode}'; known: auto, online, offline, disabled")
    if mode != "auto":
        return mode
    env_mode = os.environ.get("WANDB_MODE", "").lower()
    if env_mode in ("online", "offline", "disabled"):
        return env_mode
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


def server_url() -> str:
    """The W&B API server a run would talk to: ``WANDB_BASE_URL``, else wandb's own default."""
    url = os.environ.get("WANDB_BASE_URL")
    if not url:
        try:  # wandb's default moves with its releases (api.wandb.ai, then CoreWeave's)
            from wandb.sdk.lib.urls import DEFAULT_BASE_URL as url
        except ImportError:
            url = "https://api.wandb.ai"
    return (url if "://" in url else f"https://{url}").rstrip("/")


def _reason(err: BaseException, timeout: float) -> str:
    """A short why of a failed request: "Connection refused", "Name or service not known" ..."""
    if isinstance(err, urllib.error.URLError) and isinstance(err.reason, BaseException):
        err = err.reason
    if isinstance(err, (TimeoutError, socket.timeout)):
        return f"no answer in {timeout:g} s"
    return getattr(err, "strerror", None) or str(err) or type(err).__name__


def _ask(url: str, timeout: float, result: list[str | None]) -> None:
    """One unauthenticated GET of the server's GraphQL endpoint (where W&B posts first); appends
    None when a server that W&B could use answers, else the reason. No key is sent. TLS is not
    verified: only "does it answer" is asked, so a private CA (a self-hosted server) is no false alarm."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(f"{url}/graphql", timeout=timeout, context=context):
            result.append(None)
    except urllib.error.HTTPError as err:  # an answer; 404 or 5xx: nothing W&B can use there
        result.append(f"HTTP {err.code} at /graphql" if err.code == 404 or err.code >= 500 else None)
    except (OSError, ValueError) as err:  # URLError (DNS, refused, TLS), timeouts, a malformed URL
        result.append(_reason(err, timeout))


def server_unreachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the W&B server at ``url`` gives no usable answer within ``timeout`` seconds (None: it
    answers). A TCP connect alone is not enough: transparent proxies accept every connection. The
    request runs in a daemon thread joined with the timeout, so a hanging DNS lookup (getaddrinfo
    has no timeout of its own) or a slow answer is bounded too; the thread is left to end alone."""
    result: list[str | None] = []
    thread = threading.Thread(target=_ask, args=(url, timeout, result), daemon=True, name="rlhfkit-wandb-probe")
    thread.start()
    thread.join(timeout)
    return result[0] if result else f"no answer in {timeout:g} s"


def wandb_mode(mode: str = "auto", save_dir: str | None = None) -> str:
    """The W&B mode a run uses: ``mode``, with "auto" decided by the environment (WANDB_MODE, or
    online when WANDB_API_KEY is set), and "online" turned offline, with one warning line, when the
    W&B server cannot be reached: no network must not cost a run minutes and a traceback.
    ``save_dir``: where the offline files go (``<save_dir>/wandb``), for the warning."""
    resolved = _requested_mode(mode)
    if resolved != "online":
        return resolved
    url = server_url()
    first = url not in _PROBED
    if first:
        _PROBED[url] = server_unreachable(url)
    reason = _PROBED[url]
    if reason is None:
        return "online"
    if first:
        where = str(Path(save_dir) / "wandb") if save_dir else "<run dir>/wandb"
        log.warning(f"W&B: {urlsplit(url).netloc} unreachable ({reason}); logging offline to {where}; "
                    f"sync later with 'wandb sync {where}/offline-run-*'")
    return "offline"


class MaskedWandbLogger(WandbLogger):
    """Lightning's WandbLogger that hands W&B no secret: W&B records ``sys.argv`` in its run
    metadata when the run starts (overrides such as ``+hf_token=...`` among them), and stores the
    hyperparameters it is given as the run config.

    :meth:`record_run` adds the stage's whole config and its files (written when the W&B run
    starts, or at once if it has)."""

    _run_record: tuple[dict[str, Any], list[Path]] | None = None  # (masked config, files) not yet written

    @property
    def experiment(self) -> Any:
        if self._experiment is not None:
            return WandbLogger.experiment.fget(self)  # type: ignore[attr-defined]
        with masked_argv():
            experiment = WandbLogger.experiment.fget(self)  # type: ignore[attr-defined]
        if self._experiment is not None and self._run_record is not None:  # rank 0: the run has just started
            self._write_run_record()
        return experiment

    def record_run(self, config: Any, files: list[Path] | tuple[Path, ...] = ()) -> None:
        """``config`` (a plain dict: the stage's resolved config), masked, becomes the W&B run's config
        and ``files`` (those that exist then) one artifact of type ``config``, named
        ``config-<run name>``, and copies in the run's files."""
        self._run_record = (mask_config(dict(config)), [Path(f) for f in files])
        if self._experiment is not None:
            self._write_run_record()

    @rank_zero_only
    def _write_run_record(self) -> None:
        import wandb

        run, (config, files) = self._experiment, self._run_record  # type: ignore[misc]
        self._run_record = None
        if run is None or not hasattr(run, "config"):
            return
        run.config.update(config, allow_val_change=True)
        files = [f for f in files if f.is_file()]
        if not files or getattr(getattr(run, "settings", None), "mode", None) == "disabled":
            return
        name = "".join(c if c.isalnum() or c in "-_." else "-" for c in f"config-{run.name or run.id}")
        artifact = wandb.Artifact(name=name, type="config", description="the stage's resolved config, secrets masked",
                                  metadata={"files": [f.name for f in files]})
        for path in files:
            artifact.add_file(str(path), name=path.name)
        run.log_artifact(artifact)
        for path in files:  # the run's own files too: in an offline run directory, synced with it
            run.save(str(path), base_path=str(path.parent), policy="now")

    def log_hyperparams(self, params: Any) -> None:
        super().log_hyperparams(mask_config(dict(vars(params) if isinstance(params, Namespace) else params)))

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """A failed fit ends the W&B run here, before the error reaches the console: W&B records the
        console (files/output.log), and Hydra's "Error executing job with overrides: [...]" line
        repeats the command line verbatim, secrets too."""
        super().finalize(status)
        if status == "failed" and self._experiment is not None and hasattr(self._experiment, "finish"):
            self._experiment.finish(exit_code=1)


def make_wandb_logger(
    save_dir: str,
    project: str = "rlhfkit",
    name: str | None = None,
    group: str | None = None,
    tags: list[str] | None = None,
    mode: str = "auto",
    log_model: bool = False,
) -> WandbLogger:
    """A Lightning WandbLogger whose files live under the run directory (``<save_dir>/wandb``)."""
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WANDB_SILENT", "true")
    resolved = wandb_mode(mode, save_dir)
    return MaskedWandbLogger(
        save_dir=save_dir, project=project, name=name, group=group, tags=list(tags or []),
        offline=resolved == "offline", mode=resolved, log_model=log_model,
    )


def record_run_config(loggers: Any, cfg: Any, run_dir: str | Path) -> None:
    """Every W&B logger of a stage records the stage's whole resolved ``cfg`` (masked) as its run
    config and ``<run_dir>/resolved_config.yaml`` as an artifact (:meth:`MaskedWandbLogger.record_run`);
    other loggers are left alone."""
    wandb_loggers = [logger for logger in loggers or [] if isinstance(logger, MaskedWandbLogger)]
    if not wandb_loggers:
        return
    from omegaconf import DictConfig, OmegaConf

    config = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    for logger in wandb_loggers:
        logger.record_run(config, [Path(run_dir) / RUN_CONFIG_FILE])


def make_csv_logger(save_dir: str, name: str = "csv") -> CSVLogger:
    return CSVLogger(save_dir=save_dir, name=name)


def log_table(logger: Any, key: str, columns: list[str], rows: list[list[Any]], save_dir: str | None = None) -> None:
    """A table of examples: a W&B table when W&B is on, else a JSONL file in the run directory."""
    if isinstance(logger, WandbLogger):
        logger.log_table(key=key, columns=columns, data=rows)
        return
    if save_dir is not None:
        import json

        path = Path(save_dir) / "tables" / f"{key.replace('/', '_')}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            for row in rows:
                f.write(json.dumps(dict(zip(columns, row)), default=str) + "\n")
