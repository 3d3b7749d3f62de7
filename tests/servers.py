"""Real processes for integration tests: a moto_server and a Celery worker, on loopback."""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(probe, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready within {timeout} s")


@contextmanager
def moto_server(**env):
    """A moto_server process on 127.0.0.1; yields its endpoint URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "MOTO_ACM_VALIDATION_WAIT": "0", **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: urllib.request.urlopen(url + "/moto-api/", timeout=1).status == 200,
                   30, "moto_server")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def redis_url() -> str:
    """The Redis URL for broker tests: skipped loudly without one, failed in CI."""
    url = os.environ.get("REDIS_URL", "")
    if not url:
        message = "REDIS_URL is not set (make test sets it)"
        if os.environ.get("CLOUDSITE_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return url


@contextmanager
def celery_worker(env: dict, queue: str):
    """A Celery worker process for the cloudsite app, consuming ``queue``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "cloudsite", "worker", "--pool", "solo",
         "--concurrency", "1", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "-Q", queue, "--loglevel", "INFO"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
