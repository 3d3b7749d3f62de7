"""Build the CodeDeploy bundle, reproducibly: the same sources give the same bytes and hash.

Contents: the git-tracked files of the repository (as they are in the working tree) minus tests,
benchmarks, the development kit (``devkit/``), CI and the dev tooling's files — so the app's
sources, ``appspec.yml`` at the root, ``scripts/`` and the locks the instances install with
``pip install --require-hashes`` (``requirements-build.lock``, ``requirements.lock``). Fixed
timestamps, sorted names, permissions normalised to 0644 (0755 for executables), one compression
level: uploaded under ``bundles/<sha256>.zip`` it is content addressed, and deploying an unchanged tree uploads nothing.
"""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

from provisioning.naming import BUNDLE_PREFIX  # the CI role may write there, and only there

ROOT = Path(__file__).resolve().parent.parent
_EPOCH = (1980, 1, 1, 0, 0, 0)
# Never shipped: tests, benchmarks, the development kit (devkit/), CI and the repository's own tooling.
EXCLUDED_DIRS = {"tests", "bench", "devkit", ".ci", ".github"}
EXCLUDED_FILES = {".gitignore", "Makefile", "pytest.ini", "pyproject.toml", "requirements-dev.txt",
                  "requirements-bench.txt", "requirements-build.txt", "deploy/actionlint.cjs"}
# pytest's per-directory set-up, wherever it is
EXCLUDED_NAMES = {"conftest.py"}
REQUIRED = ("appspec.yml", "requirements-build.lock", "requirements.lock", "manage.py", "scripts/")


class BundleError(Exception):
    pass


@dataclass(frozen=True)
class Bundle:
    data: bytes
    files: tuple[str, ...]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def key(self) -> str:
        return f"{BUNDLE_PREFIX}{self.sha256}.zip"


def tracked_files(root: Path = ROOT) -> list[str]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached"], cwd=root, check=True,
                                capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise BundleError(f"cannot list the files of {root} with git ({error}); deploy from a git checkout") from None
    return sorted(name for name in listed.decode().split("\0") if name)


def shipped(name: str) -> bool:
    parts = name.split("/")
    if any(part in EXCLUDED_DIRS for part in parts[:-1]) or name in EXCLUDED_FILES or parts[-1] in EXCLUDED_NAMES:
        return False
    return not (parts[-1].startswith("test_") and parts[-1].endswith(".py"))


def build_bundle(root: Path = ROOT) -> Bundle:
    root = Path(root)
    names = [n for n in tracked_files(root) if shipped(n) and (root / n).is_file()]
    for required in REQUIRED:
        if not any(n == required or n.startswith(required) for n in names):
            raise BundleError(f"the bundle needs {required} (tracked by git)")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            path = root / name
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            mode = 0o755 if os.access(path, os.X_OK) or name.startswith("scripts/") and name.endswith(".sh") else 0o644
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return Bundle(buffer.getvalue(), tuple(names))
