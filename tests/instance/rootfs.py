"""A Debian 13 (trixie) root built with debootstrap, entered with chroot, and cleaned up for sure.

The minbase root is built once per machine session and kept as a tarball (a fresh copy per run is
unpacked from it in seconds); the packages the bake downloads and pip's downloads (not the wheels
it builds) are kept in cache directories bind-mounted into the root, so a second run downloads
nothing it already has and still compiles what it must. Every
mount is recorded and undone in reverse order, every process whose root is this directory is
killed, and the directory is removed only once nothing is mounted below it.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

SUITE, MIRROR = "trixie", "http://deb.debian.org/debian"
# What Debian's cloud images (the AMI) have and minbase lacks, that the hooks rely on: systemd (its
# unit checker; it is not PID 1 here) and procps (``kill``, the units' ExecReload).
CLOUD_IMAGE_PACKAGES = ("systemd", "procps")
CACHE = Path(os.environ.get("CLOUDSITE_INSTANCE_CACHE", "/var/cache/cloudsite-instance-test"))
# The sandbox's egress proxy re-signs TLS with its own CA, trusted by the host only: the root gets
# the host's locally added CAs (this machine's, not the image's) before the bake installs
# ca-certificates, whose trigger then trusts them too.
LOCAL_CAS = Path("/usr/local/share/ca-certificates")
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class RootError(Exception):
    pass


def minbase_tarball() -> Path:
    """``debootstrap --variant=minbase --include=systemd,procps trixie``, once: later runs unpack
    the tarball."""
    tarball = CACHE / f"{SUITE}-minbase-{'-'.join(CLOUD_IMAGE_PACKAGES)}.tar"
    if tarball.exists():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="debootstrap-") as scratch:
        target = Path(scratch) / "root"
        done = subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(CLOUD_IMAGE_PACKAGES)}",
                               SUITE, str(target), MIRROR], capture_output=True, text=True)
        if done.returncode:
            raise RootError(f"debootstrap {SUITE} failed ({done.returncode}): "
                            f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(target), "--numeric-owner", "-cf", str(partial), "."], check=True)
        partial.rename(tarball)
    return tarball


PREFIX, OWNER_FILE = "cloudsite-instance-", "owner.pid"


def sweep_stale() -> list[Path]:
    """Roots left by a run that was killed outright (SIGKILL, a lost machine): their owner process
    is gone. Their processes are killed, their mounts undone, the directories removed."""
    swept = []
    for base in Path("/var/tmp").glob(f"{PREFIX}*"):
        try:
            owner = int((base / OWNER_FILE).read_text())
            os.kill(owner, 0)
            continue  # a live run's root
        except (OSError, ValueError):
            pass
        root = DebianRoot(base)
        root.mounts = [Path(m) for m in root.mounted_below()]
        root.mounts.sort(key=lambda p: len(p.parts))
        root.cleanup()
        swept.append(base)
    return swept


class DebianRoot:
    """``with DebianRoot() as root: root.run([...])``: everything mounted or started is undone."""

    def __init__(self, base: Path | None = None):
        self.base = Path(base or tempfile.mkdtemp(prefix=PREFIX, dir="/var/tmp"))
        self.path = self.base / "root"
        self.mounts: list[Path] = []

    # --- building -------------------------------------------------------------------------------
    def __enter__(self) -> "DebianRoot":
        (self.base / OWNER_FILE).write_text(str(os.getpid()))
        try:
            self.path.mkdir(parents=True)
            subprocess.run(["tar", "-C", str(self.path), "--numeric-owner", "-xf", str(minbase_tarball())],
                           check=True)
            self._mount_system()
            shutil.copy("/etc/resolv.conf", self.path / "etc/resolv.conf")
            if LOCAL_CAS.is_dir():
                shutil.copytree(LOCAL_CAS, self.path / LOCAL_CAS.relative_to("/"), dirs_exist_ok=True)
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self.cleanup()

    def _mount(self, target: Path, *args: str) -> None:
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", *args, str(target)], check=True, capture_output=True)
        self.mounts.append(target)

    def _mount_system(self) -> None:
        """/proc, a /dev of our own (never the host's /dev, which a failed cleanup could wipe),
        /dev/pts and /dev/shm (Celery's pool uses POSIX semaphores), and the download caches."""
        root = self.path
        self._mount(root / "proc", "-t", "proc", "proc")
        self._mount(root / "dev", "-t", "tmpfs", "-o", "mode=0755,nosuid", "tmpfs")
        for name, (major, minor) in DEVICES.items():
            node = root / "dev" / name
            os.mknod(node, 0o666 | 0o020000, os.makedev(major, minor))
            os.chmod(node, 0o666)
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
            os.symlink(target, root / "dev" / name)
        self._mount(root / "dev/pts", "-t", "devpts", "-o", "newinstance,ptmxmode=0666", "devpts")
        os.symlink("pts/ptmx", root / "dev/ptmx")
        self._mount(root / "dev/shm", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs")
        # pip's downloads only, never its built wheels: every run compiles what has no wheel
        # (mysqlclient), so an image without the build dependencies fails here as it would on AWS
        for cache, inside in (("apt-archives", "var/cache/apt/archives"), ("pip-http", "root/.cache/pip/http-v2"),
                              ("pip-http-v1", "root/.cache/pip/http")):
            (CACHE / cache / "partial").mkdir(parents=True, exist_ok=True)
            self._mount(root / inside, "--bind", str(CACHE / cache))

    # --- using ----------------------------------------------------------------------------------
    def host_path(self, inside: str) -> Path:
        return self.path / inside.lstrip("/")

    def write(self, inside: str, text: str, mode: int = 0o644) -> Path:
        path = self.host_path(inside)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
        return path

    def command(self, argv: list[str], env: dict | None = None, user: str | None = None) -> list[str]:
        """The argv that runs ``argv`` in the root with exactly ``env`` (as root, or ``user`` with
        its groups through runuser)."""
        environment = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8", **(env or {})}
        inner = ["runuser", "-u", user, "--", *argv] if user else argv
        return ["chroot", str(self.path), "/usr/bin/env", "-i",
                *[f"{k}={v}" for k, v in environment.items()], *inner]

    def run(self, argv: list[str], env: dict | None = None, user: str | None = None,
            timeout: float | None = None, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(self.command(argv, env, user), capture_output=True, text=True, timeout=timeout)
        if check and done.returncode:
            raise RootError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        return done

    # --- cleaning up ----------------------------------------------------------------------------
    def processes(self) -> list[int]:
        """Every process whose root directory is this root (the services the hooks started)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.readlink(entry / "root") == str(self.path):
                        found.append(int(entry.name))
                except OSError:
                    continue
        return found

    def kill_all(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.processes():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 10
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.2)

    def mounted_below(self) -> list[str]:
        prefix = str(self.path) + "/"
        with open("/proc/self/mounts") as mounts:
            return [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]

    def cleanup(self) -> None:
        self.kill_all()
        for target in reversed(self.mounts):
            if subprocess.run(["umount", str(target)], capture_output=True).returncode:
                subprocess.run(["umount", "-l", str(target)], capture_output=True)
        self.mounts.clear()
        left = self.mounted_below()
        if left:  # never delete through a mount point
            raise RootError(f"still mounted below {self.path}: {left}; not removing it")
        shutil.rmtree(self.base, ignore_errors=True)
