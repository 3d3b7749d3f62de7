"""The CodeDeploy hooks run in a scratch directory: fake systemctl, a local /healthz server."""
import grp
import hashlib
import http.server
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
REQUIRE_TOOLS = os.environ.get("CLOUDSITE_REQUIRE_SERVICES") == "1"
# what AfterInstall installs, in this order (hash-checking mode)
LOCKS = ("requirements-build.lock", "requirements.lock")

FAKE_SYSTEMCTL = """#!/bin/sh
echo "systemctl $*" >> "$FAKE_LOG"
if [ "$1" = is-active ]; then
  for unit in $FAKE_ACTIVE; do [ "$unit" = "$3" ] && exit 0; done
  exit 3
fi
exit 0
"""

# A venv python that records what it was asked to do; render_env writes the env file.
FAKE_PYTHON = """#!/bin/sh
echo "python $* secret=${DJANGO_SECRET_KEY:+set} log_file=${LOG_FILE-unset}" >> "$FAKE_LOG"
if [ "$1" = -m ] && [ "$2" = deploy.render_env ]; then
  while [ $# -gt 0 ]; do [ "$1" = --output ] && out="$2"; shift; done
  printf 'DJANGO_SECRET_KEY="s3cret"\\nCLOUDSITE_STACK="dev"\\nLOG_FILE="/var/log/cloudsite/app.log"\\n' > "$out"
fi
"""

# An interpreter standing in for the image's: answers the version query with $FAKE_VERSION, the
# import checks (ensurepip fails under $FAKE_NO_ENSUREPIP), and makes a venv whose pip exits with
# $FAKE_PIP_STATUS and whose python is FAKE_PYTHON.
FAKE_INTERPRETER = """#!/bin/sh
echo "interpreter $*" >> "$FAKE_LOG"
if [ "$1" = -c ]; then
  case "$2" in
    *version_info*) echo "$FAKE_VERSION" ;;
    *ensurepip*) [ -z "$FAKE_NO_ENSUREPIP" ] || exit 1 ;;
  esac
  exit 0
fi
if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin"
  cp "$FAKE_VENV_PYTHON" "$3/bin/python"
  printf '#!/bin/sh\\necho "pip $*" >> "$FAKE_LOG"\\nexit ${FAKE_PIP_STATUS:-0}\\n' > "$3/bin/pip"
  chmod +x "$3/bin/python" "$3/bin/pip"
fi
"""

# groupadd / usermod: recorded, never run (the tests must not change this machine's users)
FAKE_RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> "$FAKE_LOG"
"""


def reader_group() -> grp.struct_group:
    """An existing group that is not root's and has no members: stands in for the log group."""
    return next(g for g in grp.getgrall() if g.gr_gid not in (0, os.getgid()) and not g.gr_mem
                and g.gr_name not in ("nogroup", "users"))


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def scratch(tmp_path):
    bin_dir = tmp_path / "bin"
    executable(bin_dir / "systemctl", FAKE_SYSTEMCTL)
    for tool in ("groupadd", "usermod"):
        executable(bin_dir / tool, FAKE_RECORDER)
    app = tmp_path / "opt" / "app"
    shutil.copytree(SCRIPTS, app / "scripts")
    for lock in LOCKS:
        shutil.copy(ROOT / lock, app / lock)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_LOG": str(tmp_path / "calls.log"), "FAKE_ACTIVE": "",
        "CLOUDSITE_ROOT": str(tmp_path / "opt"), "APP_DIR": str(app), "VENV_DIR": str(tmp_path / "opt" / "venv"),
        "ETC_DIR": str(tmp_path / "etc"), "LOG_DIR": str(tmp_path / "log"), "VAR_DIR": str(tmp_path / "var"),
        "UNIT_DIR": str(tmp_path / "units"), "SERVICE_USER": "root",
        "LOG_GROUP": reader_group().gr_name, "AGENT_USER": "nobody",
        "DEPLOYMENT_GROUP_NAME": "cloudsite-dev-app", "DEPLOYMENT_ID": "d-ABCDEF123", "AWS_REGION": "us-east-1",
    }
    (tmp_path / "units").mkdir()
    return tmp_path, env


def requirements_digest() -> str:
    """The stamp's digest: both locks, in the order they are installed."""
    return hashlib.sha256(b"".join((ROOT / lock).read_bytes() for lock in LOCKS)).hexdigest()


def record_python(env, path) -> None:
    """What the image bake does: the interpreter's absolute path in $ETC_DIR/python."""
    Path(env["ETC_DIR"]).mkdir(exist_ok=True)
    (Path(env["ETC_DIR"]) / "python").write_text(f"{path}\n")


def up_to_date_venv(env) -> Path:
    """A venv (FAKE_PYTHON inside) stamped for the requirements and this test's own interpreter."""
    venv = Path(env["VENV_DIR"])
    executable(venv / "bin" / "python", FAKE_PYTHON)
    version = ".".join(map(str, sys.version_info[:3]))
    record_python(env, sys.executable)
    (venv / ".stamp").write_text(f"requirements {requirements_digest()} python {sys.executable} {version}\n")
    return venv


@pytest.fixture
def interpreter(scratch):
    """A stand-in interpreter (FAKE_INTERPRETER), recorded as the image's; its extra environment."""
    tmp_path, env = scratch
    path = executable(tmp_path / "usr" / "bin" / "python3", FAKE_INTERPRETER)
    fake_venv_python = executable(tmp_path / "fake-venv-python", FAKE_PYTHON)
    record_python(env, path)
    return path, {"FAKE_VERSION": "3.13.5", "FAKE_VENV_PYTHON": str(fake_venv_python)}


def hook(scratch, name, **extra):
    tmp_path, env = scratch
    script = Path(env["APP_DIR"]) / "scripts" / name
    done = subprocess.run(["bash", str(script)], env={**env, **extra}, capture_output=True, text=True, timeout=60)
    calls = (tmp_path / "calls.log").read_text().splitlines() if (tmp_path / "calls.log").exists() else []
    return done, calls


def test_shell_scripts_pass_shellcheck():
    if shutil.which("shellcheck") is None:
        if REQUIRE_TOOLS:
            pytest.fail("shellcheck is not installed (apt-get install shellcheck; .ci/run does)")
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    scripts = sorted(str(p.relative_to(ROOT)) for p in SCRIPTS.glob("*.sh"))
    done = subprocess.run(["shellcheck", "-x", *scripts], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_appspec_runs_every_hook_from_scripts():
    spec = yaml.safe_load((ROOT / "appspec.yml").read_text())
    assert spec["version"] == 0.0 and spec["os"] == "linux"
    assert spec["files"] == [{"source": "/", "destination": "/opt/cloudsite/app"}]
    assert list(spec["hooks"]) == ["ApplicationStop", "BeforeInstall", "AfterInstall", "ApplicationStart",
                                   "ValidateService"]
    for event, (entry,) in spec["hooks"].items():
        script = ROOT / entry["location"]
        assert script.is_file() and os.access(script, os.X_OK), event
        assert entry["timeout"] <= 3600


def test_application_stop_stops_running_units_and_nothing_on_a_first_deployment(scratch):
    done, calls = hook(scratch, "application_stop.sh")
    assert done.returncode == 0, done.stderr
    assert calls == []  # no units installed yet
    units = Path(scratch[1]["UNIT_DIR"])
    for unit in ("cloudsite-app.service", "cloudsite-worker.service"):
        (units / unit).write_text("[Unit]\n")
    done, calls = hook(scratch, "application_stop.sh", FAKE_ACTIVE="cloudsite-app.service")
    assert done.returncode == 0, done.stderr
    assert "systemctl stop cloudsite-app.service" in calls
    assert "systemctl stop cloudsite-worker.service" not in calls  # it was not running


def test_before_install_makes_the_directories(scratch):
    done, _ = hook(scratch, "before_install.sh")
    assert done.returncode == 0, done.stderr
    env = scratch[1]
    for key in ("ETC_DIR", "LOG_DIR", "VAR_DIR"):
        assert Path(env[key]).is_dir()
    assert stat.S_IMODE(os.stat(env["ETC_DIR"]).st_mode) == 0o750


@pytest.fixture
def log_dir():
    """A log directory whose parent anybody may traverse (pytest's own tmp is root-only), so that
    reading as another user is decided by the log directory's own permissions."""
    import tempfile

    parent = Path(tempfile.mkdtemp(prefix="cloudsite-logs-"))
    parent.chmod(0o711)
    yield parent / "log"
    shutil.rmtree(parent)


def read_as(path: Path, *, extra_groups: list[int]) -> subprocess.CompletedProcess:
    """``cat path`` as the unprivileged user nobody, with these supplementary groups."""
    nobody = pwd.getpwnam("nobody")
    return subprocess.run(["cat", str(path)], user=nobody.pw_uid, group=nobody.pw_gid,
                          extra_groups=extra_groups, capture_output=True, text=True)


def write_as_the_units_do(path: Path) -> None:
    """Append a line with the units' UMask (a new file: 0666 & ~0027 = 0640)."""
    subprocess.run(["bash", "-c", f'umask 0027; printf \'{{"level": "INFO"}}\\n\' >> "{path}"'], check=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to another user")
def test_the_log_directory_is_readable_by_the_agent_and_nobody_else(scratch, log_dir):
    group = reader_group()
    log_dir.mkdir(mode=0o755)  # the layout before: world-readable, files 0644 of the service's group
    old = log_dir / "app.log"
    old.write_text("before\n")
    old.chmod(0o644)
    done, calls = hook(scratch, "before_install.sh", LOG_DIR=str(log_dir))
    assert done.returncode == 0, done.stderr
    info = os.stat(log_dir)
    assert stat.S_IMODE(info.st_mode) == 0o2750 and info.st_gid == group.gr_gid and info.st_uid == 0
    assert stat.S_IMODE(os.stat(old).st_mode) == 0o640 and os.stat(old).st_gid == group.gr_gid
    new = log_dir / "worker.log"
    write_as_the_units_do(new)
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o640
    assert os.stat(new).st_gid == group.gr_gid  # the directory's setgid bit, not the writer's group
    for path in (old, new):
        agent = read_as(path, extra_groups=[group.gr_gid])
        assert agent.returncode == 0, agent.stderr
        other = read_as(path, extra_groups=[])
        assert other.returncode != 0 and "Permission denied" in other.stderr
    # the agent's user joins the log group; the running agent is restarted to take it up
    assert f"usermod -a -G {group.gr_name} nobody" in calls
    assert "systemctl try-restart amazon-cloudwatch-agent.service" in calls
    assert not any(call.startswith("groupadd") for call in calls)  # the group exists


def test_before_install_without_the_agent_says_so_and_still_makes_the_directory(scratch):
    done, calls = hook(scratch, "before_install.sh", AGENT_USER="no-such-user-cwagent")
    assert done.returncode == 0, done.stderr
    assert "WARNING: no user no-such-user-cwagent" in done.stdout
    assert not any(call.startswith("usermod") for call in calls)
    assert stat.S_IMODE(os.stat(scratch[1]["LOG_DIR"]).st_mode) == 0o2750


def test_after_install_renders_the_env_then_migrates_once_and_collects_static(scratch):
    tmp_path, env = scratch
    up_to_date_venv(env)
    done, calls = hook(scratch, "after_install.sh")
    assert done.returncode == 0, done.stderr
    env_file = Path(env["ETC_DIR"]) / "env"
    assert calls == [
        f"python -m deploy.render_env --stack dev --region us-east-1 --output {env_file} --owner root "
        "secret= log_file=unset",
        # the service's environment, but their logs go to the hook's output: a root process must
        # not create the service's log file (the service user could not open it)
        "python manage.py migrate_locked --deployment d-ABCDEF123 --noinput secret=set log_file=",
        "python manage.py collectstatic --noinput --verbosity 0 secret=set log_file=",
    ]
    assert "virtual environment up to date" in done.stdout
    assert "s3cret" not in done.stdout + done.stderr


def test_after_install_fails_the_deployment_when_rendering_fails(scratch):
    tmp_path, env = scratch
    venv = up_to_date_venv(env)
    executable(venv / "bin" / "python", "#!/bin/sh\necho 'render_env: parameter missing' >&2\nexit 1\n")
    done, _ = hook(scratch, "after_install.sh")
    assert done.returncode != 0 and "parameter missing" in done.stderr


# --- the interpreter the image recorded -------------------------------------------------------
def test_after_install_without_a_recorded_interpreter_says_rebake(scratch):
    done, calls = hook(scratch, "after_install.sh")
    assert done.returncode == 1
    etc = scratch[1]["ETC_DIR"]
    assert (f"ERROR: no recorded interpreter in {etc}/python: rebake the image (provision_image --rebake)"
            in done.stderr)
    assert calls == [] and not Path(scratch[1]["VENV_DIR"]).exists()


def test_after_install_refuses_a_python_older_than_3_11(scratch, interpreter):
    path, extra = interpreter
    done, calls = hook(scratch, "after_install.sh", **{**extra, "FAKE_VERSION": "3.10.14"})
    assert done.returncode == 1
    assert f"{path} is Python 3.10.14; the app needs 3.11 or newer" in done.stderr
    assert not any(" -m venv " in f" {call} " for call in calls)  # nothing built with it


def test_after_install_refuses_an_interpreter_without_ensurepip(scratch, interpreter):
    path, extra = interpreter
    done, calls = hook(scratch, "after_install.sh", **extra, FAKE_NO_ENSUREPIP="1")
    assert done.returncode == 1
    assert f"{path} (Python 3.13.5) has no ensurepip module" in done.stderr
    assert not Path(scratch[1]["VENV_DIR"]).exists()


def test_the_environment_overrides_the_recorded_interpreter(scratch, interpreter):
    path, extra = interpreter
    record_python(scratch[1], "/nowhere/python3")
    done, calls = hook(scratch, "after_install.sh", **extra, PYTHON=str(path))
    assert done.returncode == 0, done.stderr
    assert any(call.startswith(f"interpreter -m venv {scratch[1]['VENV_DIR']}.versions/") for call in calls)


def test_a_new_interpreter_rebuilds_the_venv(scratch, interpreter):
    path, extra = interpreter
    env = scratch[1]
    venv = up_to_date_venv(env)  # stamped for another interpreter (this test's)
    record_python(env, path)  # the image now records the stand-in
    done, calls = hook(scratch, "after_install.sh", **extra)
    assert done.returncode == 0, done.stderr
    # built where it stays (its scripts' #! lines name that path), $VENV_DIR a symlink onto it
    (built,) = [call.split()[-1] for call in calls if call.startswith("interpreter -m venv")]
    assert Path(built).parent == Path(f"{venv}.versions")
    assert venv.is_symlink() and os.readlink(venv) == built
    pips = [call for call in calls if call.startswith("pip ")]
    assert pips == [
        "pip install --quiet --no-input --disable-pip-version-check --require-hashes --only-binary :all: "
        "-r requirements-build.lock",
        "pip install --quiet --no-input --disable-pip-version-check --require-hashes --no-build-isolation "
        "-r requirements.lock",
    ]
    stamp = (venv / ".stamp").read_text().strip()
    assert stamp == f"requirements {requirements_digest()} python {path} 3.13.5"
    assert os.listdir(f"{venv}.versions") == [Path(built).name]  # the old venv is gone
    # the same interpreter and requirements again: nothing rebuilt
    (scratch[0] / "calls.log").unlink()
    done, calls = hook(scratch, "after_install.sh", **extra)
    assert done.returncode == 0, done.stderr
    assert "virtual environment up to date" in done.stdout
    assert not any("-m venv" in call or call.startswith("pip") for call in calls)
    # a new version of the same path rebuilds it
    done, calls = hook(scratch, "after_install.sh", **{**extra, "FAKE_VERSION": "3.13.6"})
    assert done.returncode == 0, done.stderr
    (rebuilt,) = [call.split()[-1] for call in calls if call.startswith("interpreter -m venv")]
    assert rebuilt != built and os.readlink(venv) == rebuilt and "3.13.6" in (venv / ".stamp").read_text()
    assert os.listdir(f"{venv}.versions") == [Path(rebuilt).name]


def test_a_failing_pip_install_names_the_step(scratch, interpreter):
    path, extra = interpreter
    done, _ = hook(scratch, "after_install.sh", **extra, FAKE_PIP_STATUS="1")
    assert done.returncode == 1
    (line,) = [line for line in done.stderr.splitlines() if "ERROR" in line]
    assert line.endswith("building the virtual environment failed: pip install --require-hashes "
                         "-r requirements-build.lock (its output is above)")
    assert not Path(scratch[1]["VENV_DIR"]).exists()  # the half-built one never replaced anything


def test_application_start_installs_the_units_and_starts_them(scratch):
    done, calls = hook(scratch, "application_start.sh")
    assert done.returncode == 0, done.stderr
    env = scratch[1]
    web = (Path(env["UNIT_DIR"]) / "cloudsite-app.service").read_text()
    worker = (Path(env["UNIT_DIR"]) / "cloudsite-worker.service").read_text()
    assert f"EnvironmentFile={env['ETC_DIR']}/env" in web and "User=root" in web
    assert f"{env['VENV_DIR']}/bin/gunicorn cloudsite.wsgi:application --bind 0.0.0.0:8000" in web  # no env file yet
    assert f"LOG_FILE={env['LOG_DIR']}/worker.log {env['VENV_DIR']}/bin/celery -A cloudsite worker" in worker
    assert "@" not in web.replace("multi-user", "") and "@" not in worker.replace("multi-user", "")
    assert "UMask=0027" in web and "UMask=0027" in worker  # log files 0640 (see before_install)
    assert calls == ["systemctl daemon-reload",
                     "systemctl enable cloudsite-app.service", "systemctl restart cloudsite-app.service",
                     "systemctl enable cloudsite-worker.service", "systemctl restart cloudsite-worker.service",
                     "systemctl enable cloudsite-remove-unverified.timer",
                     "systemctl restart cloudsite-remove-unverified.timer"]


def test_application_start_installs_the_timer_removing_unverified_accounts(scratch):
    """The timer is installed, enabled and started beside the other units; the service it runs is
    installed with it and never started by the hook."""
    done, calls = hook(scratch, "application_start.sh")
    assert done.returncode == 0, done.stderr
    env = scratch[1]
    units = Path(env["UNIT_DIR"])
    timer = (units / "cloudsite-remove-unverified.timer").read_text()
    service = (units / "cloudsite-remove-unverified.service").read_text()
    assert sorted(p.name for p in units.iterdir()) == [
        "cloudsite-app.service", "cloudsite-remove-unverified.service", "cloudsite-remove-unverified.timer",
        "cloudsite-worker.service"]
    assert oct((units / "cloudsite-remove-unverified.service").stat().st_mode & 0o777) == "0o644"
    assert "Unit=cloudsite-remove-unverified.service" in timer.splitlines()
    assert "WantedBy=timers.target" in timer.splitlines() and "[Install]" not in service.splitlines()
    lines = service.splitlines()
    assert "Type=oneshot" in lines and "User=root" in lines and f"EnvironmentFile={env['ETC_DIR']}/env" in lines
    assert (f"ExecStart=/usr/bin/env LOG_FILE={env['LOG_DIR']}/worker.log {env['VENV_DIR']}/bin/python "
            f"{env['APP_DIR']}/manage.py remove_unverified_accounts") in lines
    assert "UMask=0027" in lines and "@" not in service
    assert not any("cloudsite-remove-unverified.service" in call for call in calls)


def test_the_timer_runs_a_command_that_exists():
    from django.core.management import get_commands

    service = (SCRIPTS / "systemd" / "cloudsite-remove-unverified.service").read_text()
    (exec_start,) = [line for line in service.splitlines() if line.startswith("ExecStart=")]
    assert get_commands()[exec_start.split()[-1]] == "accounts"


def test_application_start_binds_the_port_of_the_rendered_env_file(scratch):
    env = scratch[1]
    Path(env["ETC_DIR"]).mkdir()
    (Path(env["ETC_DIR"]) / "env").write_text('CLOUDSITE_APP_PORT="8123"\nCLOUDSITE_STACK="dev"\n')
    done, _ = hook(scratch, "application_start.sh")
    assert done.returncode == 0, done.stderr
    web = (Path(env["UNIT_DIR"]) / "cloudsite-app.service").read_text()
    assert "--bind 0.0.0.0:8123 " in web
    # the environment still wins
    done, _ = hook(scratch, "application_start.sh", APP_PORT="9001")
    assert "--bind 0.0.0.0:9001 " in (Path(env["UNIT_DIR"]) / "cloudsite-app.service").read_text()


@pytest.fixture
def health_server():
    answers = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status = answers.pop(0) if len(answers) > 1 else answers[0]
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"status": "ok"}' if status == 200 else b'{"status": "database unavailable"}')

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], answers
    server.shutdown()
    server.server_close()


def test_validate_service_fails_on_503(scratch, health_server):
    port, answers = health_server
    answers.append(503)
    done, _ = hook(scratch, "validate_service.sh", APP_PORT=str(port), VALIDATE_ATTEMPTS="3", VALIDATE_DELAY="0")
    assert done.returncode == 1
    assert f"http://127.0.0.1:{port}/healthz answered 503, not 200, after 3 attempts" in done.stderr


def test_validate_service_passes_once_healthz_answers_200(scratch, health_server):
    port, answers = health_server
    answers.extend([503, 503, 200])
    done, _ = hook(scratch, "validate_service.sh", APP_PORT=str(port), VALIDATE_ATTEMPTS="5", VALIDATE_DELAY="0")
    assert done.returncode == 0, done.stderr
    assert "healthy" in done.stdout and "(attempt 3)" in done.stdout


def test_validate_service_polls_the_port_of_the_rendered_env_file(scratch, health_server):
    port, answers = health_server
    answers.append(200)
    env = scratch[1]
    Path(env["ETC_DIR"]).mkdir()
    (Path(env["ETC_DIR"]) / "env").write_text(f'CLOUDSITE_STACK="dev"\nCLOUDSITE_APP_PORT="{port}"\n')
    done, _ = hook(scratch, "validate_service.sh", VALIDATE_ATTEMPTS="2", VALIDATE_DELAY="0")
    assert done.returncode == 0, done.stderr
    assert f"healthy: http://127.0.0.1:{port}/healthz answered 200" in done.stdout


def test_validate_service_fails_when_nothing_listens(scratch):
    from devkit.live import free_port

    done, _ = hook(scratch, "validate_service.sh", APP_PORT=str(free_port()), VALIDATE_ATTEMPTS="2", VALIDATE_DELAY="0")
    assert done.returncode == 1 and "answered 000" in done.stderr


def test_the_stack_comes_from_the_deployment_group(scratch):
    tmp_path, env = scratch
    script = f'source "{env["APP_DIR"]}/scripts/common.sh"; stack_name'
    done = subprocess.run(["bash", "-c", script], env={**env, "DEPLOYMENT_GROUP_NAME": "cloudsite-prod-app"},
                          capture_output=True, text=True)
    assert done.stdout.strip() == "prod"
    done = subprocess.run(["bash", "-c", script], env={**env, "DEPLOYMENT_GROUP_NAME": ""},
                          capture_output=True, text=True)
    assert done.returncode == 1 and "cannot tell the stack" in done.stderr


def test_the_instance_scripts_pass_shellcheck(tmp_path):
    """The image bake and the boot script (user data), rendered for a stack."""
    if shutil.which("shellcheck") is None:
        if REQUIRE_TOOLS:
            pytest.fail("shellcheck is not installed (apt-get install shellcheck; .ci/run does)")
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    from deploy.bootstrap import bake_script, boot_script

    (tmp_path / "bake.sh").write_text(bake_script("dev", "us-east-1", "debian-13"))
    (tmp_path / "boot.sh").write_text(boot_script(stack="dev", region="us-east-1", account="123456789012",
                                                  partition="aws", domain="dev.example.com"))
    done = subprocess.run(["shellcheck", "bake.sh", "boot.sh"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_before_install_gives_log_files_made_by_someone_else_back_to_the_service(scratch):
    """A log file another user made (a root process before the hooks kept their logs to themselves)
    would stop the service from opening it: BeforeInstall hands it to the service and its group."""
    env = scratch[1]
    log_dir = Path(env["LOG_DIR"])
    log_dir.mkdir(parents=True)
    stray = log_dir / "app.log"
    stray.write_text("")
    nobody = pwd.getpwnam("nobody")
    os.chown(stray, nobody.pw_uid, nobody.pw_gid)
    stray.chmod(0o644)
    done, _ = hook(scratch, "before_install.sh")
    assert done.returncode == 0, done.stderr
    info = stray.stat()
    assert info.st_uid == pwd.getpwnam(env["SERVICE_USER"]).pw_uid
    assert info.st_gid == grp.getgrnam(env["LOG_GROUP"]).gr_gid
    assert stat.S_IMODE(info.st_mode) == 0o640


# --- the environment file is read as systemd reads it, never sourced -----------------------------
def hostile_value(marker: Path) -> str:
    """What must reach the app as it is: command substitutions, quotes, spaces, backslashes."""
    return f"a $(touch {marker}) `touch {marker}` \"q\" 'single' $HOME \\ \\n end"


def test_after_install_reads_the_env_file_without_evaluating_it(scratch):
    """A value systemd takes literally (inside double quotes "$(" and "`" are plain characters) must
    reach the management commands as it is, and run nothing: sourcing the file would run both."""
    tmp_path, env = scratch
    venv = up_to_date_venv(env)
    marker = tmp_path / "pwned"
    # systemd's EnvironmentFile= reading: \" \\ unescaped, "$" and "`" plain, "\n" kept as two characters
    line = f'NASTY="a $(touch {marker}) `touch {marker}` \\"q\\" \'single\' $HOME \\\\ \\n end"'
    dump = tmp_path / "seen"
    executable(venv / "bin" / "python", f"""#!/bin/sh
if [ "$1" = -m ] && [ "$2" = deploy.render_env ]; then
  while [ $# -gt 0 ]; do [ "$1" = --output ] && out="$2"; shift; done
  cat > "$out" <<'LINES'
# rendered
{line}
SPACED="  two  spaces  "
LINES
  exit 0
fi
printf '%s|%s' "$NASTY" "$SPACED" > "{dump}"
""")
    done, _ = hook(scratch, "after_install.sh")
    assert done.returncode == 0, done.stderr
    assert dump.read_text() == hostile_value(marker) + "|  two  spaces  "
    assert not marker.exists()


def read_back(env_file: Path, keys, scratch) -> list[str]:
    """The values of ``keys`` as the hooks read ``env_file`` (export_env_file in common.sh)."""
    script = (f'source "{scratch[1]["APP_DIR"]}/scripts/common.sh"; export_env_file "$1"; shift; '
              'for key in "$@"; do printf "%s\\0" "${!key}"; done')
    done = subprocess.run(["bash", "-c", script, "bash", str(env_file), *keys], env=scratch[1],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\0")[:-1]


def test_the_hooks_read_back_exactly_what_render_env_writes(scratch):
    from deploy.render_env import render

    marker = scratch[0] / "pwned"
    values = {"NASTY": hostile_value(marker), "QUOTES": "\"'\"", "TRAILING": "ends with \\",
              "DOLLARS": "$$ ${HOME} $1", "TAB": "a\tb", "EMPTY": "", "SPACES": "  x  ", "UNICODE": "clé ✓"}
    env_file = scratch[0] / "env"
    env_file.write_text(render(values))
    assert read_back(env_file, list(values), scratch) == list(values.values())
    assert not marker.exists()


def test_a_line_the_reader_cannot_take_fails_the_hook_without_showing_it(scratch):
    env_file = scratch[0] / "env"
    env_file.write_text('GOOD="1"\nSECRET="s3cret-unterminated\n')
    script = f'source "{scratch[1]["APP_DIR"]}/scripts/common.sh"; export_env_file "{env_file}"; echo read'
    done = subprocess.run(["bash", "-c", script], env=scratch[1], capture_output=True, text=True)
    assert done.returncode == 1 and "read" not in done.stdout
    assert f"{env_file}, line 2: not KEY=\"value\"" in done.stderr and "s3cret" not in done.stderr


def test_no_script_sources_the_env_file():
    """The only reader is export_env_file: no `source`/`.` of the environment file anywhere."""
    offenders = []
    for path in sorted(SCRIPTS.glob("*.sh")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0].strip()
            if re.match(r"^(source|\.)\s", code) and "common.sh" not in code:
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []
