#!/usr/bin/env python
"""Benchmark (not a test): a short headless locust run of bench/locustfile.py against the app
served by gunicorn on loopback (embedded defaults: SQLite, files on disk), printing the figures.

    .venv/bin/python bench/load.py [--users 20] [--seconds 20] [--workers 2]

Needs requirements-bench.txt (locust).
"""
import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devkit import live  # noqa: E402

PASSWORD = "load-harbour-42-lantern"


def make_accounts(env: dict, count: int, path: Path) -> None:
    live.manage(env, "shell", "-c", (
        "from django.utils import timezone; from accounts.models import User\n"
        f"for i in range({count}):\n"
        f"    User.objects.create_user(f'user{{i}}@load.example.com', {PASSWORD!r}, first_name='L', "
        "last_name='T', verified=True, verified_on=timezone.now())"))
    path.write_text("".join(f"user{i}@load.example.com:{PASSWORD}\n" for i in range(count)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = live.app_environment(workdir, endpoint="", CLOUDSITE_UPLOAD_MAX_BYTES="1048576")
        env.pop("AWS_ENDPOINT_URL")
        live.manage(env, "migrate", "--noinput", "-v0")
        accounts = workdir / "accounts.txt"
        make_accounts(env, args.users, accounts)
        with live.gunicorn(env, workdir / "gunicorn.log", workers=args.workers) as (port, _):
            subprocess.run(
                [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"),
                 "--headless", "--users", str(args.users), "--spawn-rate", str(args.users),
                 "--run-time", f"{args.seconds}s", "--host", f"http://127.0.0.1:{port}",
                 "--csv", str(workdir / "load"), "--only-summary", "--loglevel", "WARNING"],
                env={**env, "CLOUDSITE_LOAD_ACCOUNTS": str(accounts)}, check=False,
                stdout=subprocess.DEVNULL)
        rows = list(csv.DictReader((workdir / "load_stats.csv").open()))
    print(f"locust {args.users} users, {args.seconds}s, gunicorn {args.workers} sync workers, SQLite")
    print(f"{'endpoint':<26}{'requests':>9}{'failures':>9}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}")
    for row in rows:
        print(f"{row['Name']:<26}{row['Request Count']:>9}{row['Failure Count']:>9}"
              f"{float(row['Requests/s']):>8.1f}{row['50%']:>8}{row['95%']:>8}")


if __name__ == "__main__":
    main()
