"""Who holds a stack's lock, and whether that run can still be alive.

A holder records the command, the caller's ARN, the host, the process and when it started, and
when its lease expires (epoch seconds: compared across hosts, so wall-clock time, not monotonic).
A holder on this same host (same name, same boot, same PID namespace) is checked directly: if its process is gone (or
its pid now belongs to a later process, or it is a zombie), the run is dead and its lock may be
taken over at once. A holder elsewhere can only be judged by its lease.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

# The lock ids this process holds right now. A holder with this process's own pid whose id is not
# here is a run of this process that ended without releasing (a long-lived process, or a test's
# simulated crash): it is as dead as a process that is gone.
_HELD: set[str] = set()
_HELD_LOCK = threading.Lock()


def held_here(lock_id: str, held: bool) -> None:
    with _HELD_LOCK:
        (_HELD.add if held else _HELD.discard)(lock_id)


def boot_id() -> str:
    """This boot of this machine and this process's PID namespace (Linux), '' where there is
    none to read. Two containers sharing a hostname and a kernel (host networking) are not "this
    host" to each other: a pid means something only within its namespace."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{boot} {namespace}".strip()


def process_started(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat`` field 22), or None
    where /proc is not readable. Tells a pid reused by a later process from the one recorded."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ...": comm may hold spaces and parentheses; the fields follow the last ")"
    return stat[stat.rindex(")") + 2:].split()


def process_alive(pid: int, started: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user
        pass
    fields = _stat_fields(pid)
    if fields is None:
        return True  # no /proc (macOS): the signal said it exists
    if fields[0] in ("Z", "X"):  # a zombie has exited; only its parent has not reaped it yet
        return False
    return started is None or int(fields[19]) == started


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Holder:
    lock_id: str
    command: str
    caller: str
    host: str
    boot: str       # boot_id(): this boot and PID namespace
    pid: int
    pid_started: int | None
    since: float    # epoch seconds
    expires: float  # epoch seconds: the lease, renewed by the holder's heartbeat

    @classmethod
    def for_this_process(cls, lock_id: str, command: str, caller: str, *, now: float, lease: float) -> "Holder":
        pid = os.getpid()
        return cls(lock_id, command, caller, socket.gethostname(), boot_id(), pid, process_started(pid),
                   since=now, expires=now + lease)

    def expired(self, now: float) -> bool:
        return now > self.expires  # as the takeover's condition: expires < :now

    def on_this_host(self) -> bool:
        return self.host == socket.gethostname() and self.boot == boot_id()

    def gone(self) -> bool:
        """Known dead: it ran on this host and its process (or, in this process, its run) is gone."""
        if not self.on_this_host():
            return False
        if self.pid == os.getpid():
            with _HELD_LOCK:
                return self.lock_id not in _HELD
        return not process_alive(self.pid, self.pid_started)

    def describe(self) -> str:
        return (f"{self.command} ({self.caller} on host {self.host}, pid {self.pid}) since "
                f"{iso(self.since)}, lock id {self.lock_id}")

    def as_dict(self) -> dict:
        data = asdict(self)
        data.update(since=iso(self.since), expires=iso(self.expires))
        return data


def now() -> float:
    return time.time()
