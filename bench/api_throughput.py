#!/usr/bin/env python
"""Benchmark (not a test): authenticated API throughput against /healthz, cache on and off.

Starts gunicorn (2 sync workers) on loopback against MariaDB, drives ``GET /healthz`` and
authenticated ``GET /v1/user/self`` with wrk, and prints req/s and their ratio, first with the
verified-credential cache on and then with it off. Both figures of a ratio come from the same
run, side by side, since this machine is small, shared and noisy.

    .venv/bin/python bench/api_throughput.py [--seconds 10] [--connections 8]

Needs: MariaDB at 127.0.0.1:3306 (root, no password; or BENCH_DATABASE_URL), wrk (apt-get install
wrk), and for the shared cache Redis at 127.0.0.1:6379 (or BENCH_CACHE_URL; "locmemcache://" for
a per-worker cache).
"""
import argparse
import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devkit import live  # noqa: E402

PYTHON = sys.executable
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "mysql://root@127.0.0.1:3306/cloudsite_bench")
CACHE_URL = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/3")
USERNAME, PASSWORD = "bench@example.com", "bench-harbour-77-lantern"


def app_env(**extra) -> dict:
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "CACHE_URL": CACHE_URL,
           "DJANGO_SETTINGS_MODULE": "cloudsite.settings", **extra}
    env.pop("DJANGO_DEBUG", None)
    return env


def manage(*args, env=None):
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env or app_env(), check=True,
                   stdout=subprocess.DEVNULL)


def prepare_database():
    import environ
    import MySQLdb  # noqa: PLC0415 (only the bench needs it at top level)

    cfg = environ.Env.db_url_config(DATABASE_URL)
    conn = MySQLdb.connect(host=cfg["HOST"], port=int(cfg["PORT"] or 3306), user=cfg["USER"],
                           password=cfg["PASSWORD"] or "")
    cursor = conn.cursor()
    cursor.execute(f"DROP DATABASE IF EXISTS `{cfg['NAME']}`")
    cursor.execute(f"CREATE DATABASE `{cfg['NAME']}` CHARACTER SET utf8mb4")
    conn.close()
    manage("migrate", "--noinput")
    manage("collectstatic", "--noinput", "-v0")
    script = ("from django.utils import timezone; from accounts.models import User; "
              f"User.objects.create_user({USERNAME!r}, {PASSWORD!r}, first_name='B', "
              "last_name='M', verified=True, verified_on=timezone.now())")
    manage("shell", "-c", script)


def wrk(url: str, seconds: int, connections: int, header: str | None = None) -> float:
    cmd = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", url]
    if header:
        cmd += ["-H", header]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise SystemExit(f"{url}: {non_2xx.group(1)} non-2xx answers; is the user verified?\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def measure(label: str, seconds: int, connections: int, **env) -> tuple[float, float]:
    auth = "Authorization: Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    # the app's request log goes to a file, as on an instance, not to this terminal
    with tempfile.TemporaryDirectory() as tmp, \
            live.gunicorn(app_env(**env), Path(tmp) / "gunicorn.log", workers=2) as (port, _):
        url = f"http://127.0.0.1:{port}"
        wrk(url + "/v1/user/self", 2, connections, auth)  # warm-up (fills the cache)
        health = wrk(url + "/healthz", seconds, connections)
        self_rps = wrk(url + "/v1/user/self", seconds, connections, auth)
    print(f"{label:<22} /healthz {health:9.1f} req/s   GET /v1/user/self {self_rps:9.1f} req/s"
          f"   ratio {self_rps / health:.3f}", flush=True)
    return health, self_rps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")
    prepare_database()
    print(f"gunicorn 2 sync workers, MariaDB, cache {CACHE_URL}, wrk 2 threads "
          f"{args.connections} connections {args.seconds}s per figure")
    measure("credential cache on", args.seconds, args.connections)
    measure("credential cache off", args.seconds, args.connections, CLOUDSITE_AUTH_CACHE_TTL="0")


if __name__ == "__main__":
    main()
