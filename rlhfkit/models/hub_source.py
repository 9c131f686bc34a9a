"""Where ``model.path`` points, checked before ``from_pretrained`` so that a wrong value is one
line naming the key, not a transformers traceback or a minute of download retries:

* an existing directory must hold the ``config.json`` that ``save_pretrained`` writes;
* a file, or a missing path that can only be a path, is refused;
* anything else is a hub id: used from the local Hugging Face cache when it is there, else the
  hub must answer within a few seconds (``HF_HUB_OFFLINE=1`` skips the hub).
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

from rlhfkit.errors import ConfigError

HUB_PROBE_TIMEOUT_S = 3.0
KEY = "model.path"


def _looks_like_path(value: str) -> bool:
    return value.startswith((".", "/", "~")) or value.count("/") > 1 or value.endswith((".json", ".bin", ".safetensors"))


def hub_unreachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> str | None:
    """Why the Hugging Face hub (``HF_ENDPOINT``) cannot be reached, or None when it answers a TCP
    connect; DNS included, bounded by ``timeout`` (a thread: getaddrinfo has no timeout of its own)."""
    url = urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as err:
            outcome.append(getattr(err, "strerror", None) or str(err) or type(err).__name__)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome[0] if outcome else f"{host} gave no answer in {timeout:g} s"


def in_hub_cache(repo_id: str, revision: str | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    return isinstance(found, str)


def model_source(path: str, revision: str | None = None, key: str = KEY) -> str:
    """The directory or hub id ``from_pretrained`` gets for ``path`` (see the module doc)."""
    local = Path(path).expanduser()
    if local.is_file():
        raise ConfigError(f"config key '{key}': '{path}' is a file; give the directory save_pretrained wrote "
                          "(with config.json) or a Hugging Face hub id")
    if local.is_dir():
        if not (local / "config.json").exists():
            raise ConfigError(f"config key '{key}': '{path}' has no config.json; it is not a saved Hugging Face model "
                              "(an rlhfkit stage saves one in <run>/final)")
        return str(local)
    if _looks_like_path(path):
        raise ConfigError(f"config key '{key}': no model directory at '{path}'")
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(path)
    except HFValidationError as err:
        raise ConfigError(f"config key '{key}': '{path}' is neither a local directory nor a hub id ({err})") from None
    if in_hub_cache(path, revision):
        return path
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise ConfigError(f"config key '{key}': '{path}' is not a local directory and not in the Hugging Face cache "
                          "(HF_HUB_OFFLINE is set)")
    reason = hub_unreachable()
    if reason:
        raise ConfigError(f"config key '{key}': '{path}' is not a local directory and not in the Hugging Face cache, "
                          f"and the hub cannot be reached ({reason})")
    return path
