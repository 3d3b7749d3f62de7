#!/usr/bin/python3
"""A stand-in for ``systemctl`` inside the test root, where systemd cannot be PID 1.

Installed by the instance test as ``/usr/local/sbin/systemctl`` (ahead of any real one on PATH), it
does what the hooks ask of systemd with the units they installed, read the way systemd reads them:
``User=``/``Group=`` (with the user's supplementary groups, as systemd does), ``WorkingDirectory=``,
``EnvironmentFile=`` (``KEY=value`` / ``KEY="value"`` lines, ``#`` and ``;`` comments),
``Environment=``, ``UMask=``, ``ExecStart=`` (split like a shell word list, no shell), ``KillSignal=``
and ``TimeoutStopSec=``, plus the manager's ``DefaultEnvironment=`` from
``/etc/systemd/system.conf.d/*.conf``. Output goes to ``/var/log/journal-standin/<unit>.log``.
Not emulated (said in the README): the sandboxing lines (``ProtectSystem=``, ``PrivateTmp=``,
``NoNewPrivileges=``), ``Restart=``, cgroups (a service's processes are its process group), timers
(starting a ``.timer`` runs nothing).

Verbs: daemon-reload, enable, disable, start, stop, restart, try-restart, is-active [--quiet],
show-main-pid. Exit codes as systemctl's: 0, 3 for "not active", 1 for an error.
"""
import grp
import os
import pwd
import shlex
import signal
import sys
import time
from pathlib import Path

UNIT_DIRS = [Path("/etc/systemd/system"), Path("/lib/systemd/system")]
STATE = Path("/run/systemctl-standin")
JOURNAL = Path("/var/log/journal-standin")
MANAGER_CONF = Path("/etc/systemd/system.conf.d")


def unquote(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        inner, out, i = value[1:-1], [], 0
        while i < len(inner):
            if inner[i] == "\\" and i + 1 < len(inner):
                out.append(inner[i + 1])
                i += 2
            else:
                out.append(inner[i])
                i += 1
        return "".join(out)
    return value


def parse_unit(path):
    """``{section: {key: [values]}}``; later assignments append (as systemd lists do)."""
    sections, current = {}, None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def environment_file(path):
    env = {}
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        if sep:
            env[key.strip()] = unquote(value)
    return env


def assignments(values):
    env = {}
    for value in values:
        for word in shlex.split(value):
            key, sep, val = word.partition("=")
            if sep:
                env[key] = val
    return env


def manager_environment():
    env = {}
    for conf in sorted(MANAGER_CONF.glob("*.conf")) if MANAGER_CONF.is_dir() else []:
        env.update(assignments(parse_unit(conf).get("Manager", {}).get("DefaultEnvironment", [])))
    return env


def find_unit(name):
    for directory in UNIT_DIRS:
        if (directory / name).is_file():
            return directory / name
    raise SystemExit(f"Unit {name} not found.")


def pid_file(name):
    return STATE / f"{name}.pid"


def main_pid(name):
    try:
        pid = int(pid_file(name).read_text())
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    return pid if state not in ("Z", "X") else None


def start(name):
    if main_pid(name) or name.endswith(".timer"):
        return
    service = parse_unit(find_unit(name)).get("Service", {})
    last = lambda key, default=None: service.get(key, [default])[-1]  # noqa: E731
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
           **manager_environment()}
    user = last("User")
    if user:
        entry = pwd.getpwnam(user)
        env.update(USER=user, LOGNAME=user, HOME=entry.pw_dir, SHELL=entry.pw_shell)
    env.update(assignments(service.get("Environment", [])))
    for value in service.get("EnvironmentFile", []):
        optional = value.startswith("-")
        path = value.lstrip("-")
        if not os.path.exists(path) and optional:
            continue
        env.update(environment_file(path))
    argv = shlex.split(last("ExecStart").lstrip("@-:+!"))
    STATE.mkdir(parents=True, exist_ok=True)
    JOURNAL.mkdir(parents=True, exist_ok=True)
    log = os.open(JOURNAL / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the service: its own session and process group, reparented away from us
        os.close(reader)
        os.setsid()
        if os.fork():
            os._exit(0)
        os.setpgid(0, 0)  # the service's process group is its main process's id (stop signals it)
        try:
            os.write(writer, str(os.getpid()).encode())
            os.close(writer)
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            if last("UMask"):
                os.umask(int(last("UMask"), 8))
            if user:
                entry = pwd.getpwnam(user)
                gid = grp.getgrnam(last("Group")).gr_gid if last("Group") else entry.pw_gid
                os.setgid(gid)
                os.initgroups(user, gid)
                os.setuid(entry.pw_uid)
            os.chdir(last("WorkingDirectory", "/"))
            os.execvpe(argv[0], argv, env)
        except BaseException as error:  # noqa: BLE001 - the journal says why
            os.write(2, f"systemctl-standin: {name}: {error}\n".encode())
        os._exit(127)
    os.close(writer)
    os.waitpid(child, 0)
    pid = os.read(reader, 32).decode()
    os.close(reader)
    pid_file(name).write_text(pid)


def stop(name):
    pid = main_pid(name)
    if not pid:
        return
    service = parse_unit(find_unit(name)).get("Service", {})
    sig = getattr(signal, service.get("KillSignal", ["SIGTERM"])[-1])
    timeout = float(service.get("TimeoutStopSec", ["90"])[-1].rstrip("s"))
    os.killpg(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.killpg(pid, signal.SIGKILL)
    pid_file(name).unlink(missing_ok=True)


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    quiet = "--quiet" in argv or "-q" in argv
    if not args:
        return 1
    verb, units = args[0], args[1:]
    if verb in ("daemon-reload", "enable", "disable"):
        for unit in units:
            find_unit(unit)
        return 0
    if verb == "is-active":
        active = all(main_pid(u) for u in units)
        if not quiet:
            print("active" if active else "inactive")
        return 0 if active else 3
    if verb == "show-main-pid":
        print(main_pid(units[0]) or 0)
        return 0
    for unit in units:
        if verb == "start":
            start(unit)
        elif verb == "stop":
            stop(unit)
        elif verb == "restart":
            stop(unit)
            start(unit)
        elif verb == "try-restart":
            if main_pid(unit):
                stop(unit)
                start(unit)
        else:
            print(f"systemctl-standin: unsupported verb {verb}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
