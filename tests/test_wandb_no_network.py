"""W&B with an API key and no network: a probe of a few seconds, one warning line, offline files;
never minutes of retries and a CommError traceback (rlhfkit.tracking)."""

from __future__ import annotations

import http.server
import logging
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from _helpers import REPO_ROOT, single_run_dir

from rlhfkit import tracking

FAKE_KEY = "0123456789abcdef0123456789abcdef01234567"  # 40 characters, like a real key
REFUSED = "http://127.0.0.1:9"  # the discard port: nothing listens, refused at once
UNROUTABLE = "http://10.255.255.1"  # times out where packets are dropped (or a proxy answers 404)


@pytest.fixture
def online_env(monkeypatch):
    """A key in the environment, WANDB_MODE unset (tests/conftest.py sets it offline), no probe cached."""
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    monkeypatch.setattr(tracking, "_PROBED", {})
    return monkeypatch


@pytest.fixture
def silent_server():
    """A TCP port that takes connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture
def wandb_like_server():
    """An HTTP server whose /graphql answers 401 without a key, as W&B's does."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(401)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def decide(monkeypatch, url: str) -> tuple[str, float]:
    monkeypatch.setenv("WANDB_BASE_URL", url)
    start = time.perf_counter()
    mode = tracking.wandb_mode("auto", "/tmp/run")
    return mode, time.perf_counter() - start


def test_refused_server_means_offline_at_once_with_one_warning_and_no_key(online_env, caplog):
    caplog.set_level(logging.WARNING, logger="rlhfkit.tracking")
    mode, seconds = decide(online_env, REFUSED)
    assert mode == "offline" and seconds < 10
    assert tracking.wandb_mode("auto", "/tmp/run") == "offline"  # probed once per process, warned once
    lines = [r.getMessage() for r in caplog.records if r.name == "rlhfkit.tracking"]
    assert lines == [("W&B: 127.0.0.1:9 unreachable (Connection refused); logging offline to /tmp/run/wandb; "
                      "sync later with 'wandb sync /tmp/run/wandb/offline-run-*'")]
    assert FAKE_KEY not in caplog.text


def test_unroutable_server_means_offline_within_seconds(online_env):
    mode, seconds = decide(online_env, UNROUTABLE)
    assert mode == "offline" and seconds < 10


def test_a_server_that_never_answers_is_given_up_after_the_timeout(silent_server):
    start = time.perf_counter()
    reason = tracking.server_unreachable(silent_server, timeout=1.0)
    assert reason == "no answer in 1 s" and time.perf_counter() - start < 3


def test_a_hanging_dns_lookup_is_bounded_too(monkeypatch):
    def hang(*args, **kwargs):
        time.sleep(30)
        raise OSError("unreachable")

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    start = time.perf_counter()
    assert tracking.server_unreachable("https://api.example.invalid", timeout=0.5) == "no answer in 0.5 s"
    assert time.perf_counter() - start < 2


def test_a_server_that_answers_stays_online(online_env, wandb_like_server):
    mode, seconds = decide(online_env, wandb_like_server)
    assert mode == "online" and seconds < 10


@pytest.mark.parametrize(("env", "expected"), [({"WANDB_MODE": "offline"}, "offline"), ({}, "offline"),
                                               ({"WANDB_MODE": "disabled", "WANDB_API_KEY": FAKE_KEY}, "disabled")])
def test_no_probe_unless_online(monkeypatch, env, expected):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(tracking, "server_unreachable", lambda *a, **k: pytest.fail("probed"))
    assert tracking.wandb_mode("auto") == expected


def test_the_hyperparameters_wandb_is_given_are_masked(tmp_path):
    logger = tracking.MaskedWandbLogger(save_dir=str(tmp_path), offline=True)
    seen = {}

    class Config:
        def update(self, params, allow_val_change=False):
            seen.update(params)

    logger._experiment = type("Run", (), {"config": Config()})()
    logger.log_hyperparams({"hf_token": "hf_SECRETSECRET123", "max_new_tokens": 8, "tokenizer": "bytes"})
    assert seen == {"hf_token": "***", "max_new_tokens": 8, "tokenizer": "bytes"}


@pytest.mark.slow
def test_a_train_run_with_a_key_and_no_network_logs_offline(tmp_path, sft_file):
    env = {k: v for k, v in os.environ.items() if k != "WANDB_MODE"}
    env |= {"WANDB_API_KEY": FAKE_KEY, "WANDB_BASE_URL": REFUSED, "HYDRA_FULL_ERROR": "0"}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "rlhfkit.cli", "train", "stage=sft", "model=tiny", "debug=fast",
                             f"data.sft.train.path={sft_file}", f"paths.runs_dir={tmp_path}"],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    run = single_run_dir(tmp_path)
    warnings = [line for line in output.splitlines() if "W&B: 127.0.0.1:9 unreachable" in line]
    assert len(warnings) == 1, output[-3000:]
    assert f"logging offline to {run / 'wandb'}; sync later with 'wandb sync {run / 'wandb'}/offline-run-*'" in warnings[0]
    assert "CommError" not in output and "Traceback" not in output
    assert list((run / "wandb").glob("offline-run-*/run-*.wandb")), "the W&B run is offline, under the run dir"
    assert seconds < 90, f"{seconds:.0f} s: W&B must not retry an unreachable server"
    assert FAKE_KEY not in output
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and FAKE_KEY.encode() in p.read_bytes()]
