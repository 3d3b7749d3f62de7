"""The CodeDeploy hooks run in a scratch directory: fake systemctl, a local /healthz server."""
import http.server
import os
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
echo "python $* secret=${DJANGO_SECRET_KEY:+set}" >> "$FAKE_LOG"
if [ "$1" = -m ] && [ "$2" = deploy.render_env ]; then
  while [ $# -gt 0 ]; do [ "$1" = --output ] && out="$2"; shift; done
  printf 'DJANGO_SECRET_KEY="s3cret"\\nCLOUDSITE_STACK="dev"\\n' > "$out"
fi
"""


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def scratch(tmp_path):
    bin_dir = tmp_path / "bin"
    executable(bin_dir / "systemctl", FAKE_SYSTEMCTL)
    app = tmp_path / "opt" / "app"
    shutil.copytree(SCRIPTS, app / "scripts")
    shutil.copy(ROOT / "requirements.txt", app / "requirements.txt")
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_LOG": str(tmp_path / "calls.log"), "FAKE_ACTIVE": "",
        "CLOUDSITE_ROOT": str(tmp_path / "opt"), "APP_DIR": str(app), "VENV_DIR": str(tmp_path / "opt" / "venv"),
        "ETC_DIR": str(tmp_path / "etc"), "LOG_DIR": str(tmp_path / "log"), "VAR_DIR": str(tmp_path / "var"),
        "UNIT_DIR": str(tmp_path / "units"), "SERVICE_USER": "root",
        "DEPLOYMENT_GROUP_NAME": "cloudsite-dev-app", "DEPLOYMENT_ID": "d-ABCDEF123", "AWS_REGION": "us-east-1",
    }
    (tmp_path / "units").mkdir()
    return tmp_path, env


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


def test_after_install_renders_the_env_then_migrates_once_and_collects_static(scratch):
    tmp_path, env = scratch
    venv = Path(env["VENV_DIR"])
    executable(venv / "bin" / "python", FAKE_PYTHON)
    digest = subprocess.run(["sha256sum", str(ROOT / "requirements.txt")], capture_output=True, text=True).stdout.split()[0]
    (venv / ".requirements.sha256").write_text(digest + "\n")
    Path(env["ETC_DIR"]).mkdir()
    done, calls = hook(scratch, "after_install.sh")
    assert done.returncode == 0, done.stderr
    env_file = Path(env["ETC_DIR"]) / "env"
    assert calls == [
        f"python -m deploy.render_env --stack dev --region us-east-1 --output {env_file} --owner root secret=",
        "python manage.py migrate_locked --deployment d-ABCDEF123 --noinput secret=set",
        "python manage.py collectstatic --noinput --verbosity 0 secret=set",
    ]
    assert "virtual environment up to date" in done.stdout
    assert "s3cret" not in done.stdout + done.stderr


def test_after_install_fails_the_deployment_when_rendering_fails(scratch):
    tmp_path, env = scratch
    venv = Path(env["VENV_DIR"])
    executable(venv / "bin" / "python", "#!/bin/sh\necho 'render_env: parameter missing' >&2\nexit 1\n")
    digest = subprocess.run(["sha256sum", str(ROOT / "requirements.txt")], capture_output=True, text=True).stdout.split()[0]
    (venv / ".requirements.sha256").write_text(digest + "\n")
    done, _ = hook(scratch, "after_install.sh")
    assert done.returncode != 0 and "parameter missing" in done.stderr


def test_application_start_installs_the_units_and_starts_them(scratch):
    done, calls = hook(scratch, "application_start.sh")
    assert done.returncode == 0, done.stderr
    env = scratch[1]
    web = (Path(env["UNIT_DIR"]) / "cloudsite-app.service").read_text()
    worker = (Path(env["UNIT_DIR"]) / "cloudsite-worker.service").read_text()
    assert f"EnvironmentFile={env['ETC_DIR']}/env" in web and "User=root" in web
    assert f"{env['VENV_DIR']}/bin/gunicorn cloudsite.wsgi:application --bind 0.0.0.0:8000" in web
    assert f"LOG_FILE={env['LOG_DIR']}/worker.log {env['VENV_DIR']}/bin/celery -A cloudsite worker" in worker
    assert "@" not in web.replace("multi-user", "") and "@" not in worker.replace("multi-user", "")
    assert calls == ["systemctl daemon-reload",
                     "systemctl enable cloudsite-app.service", "systemctl restart cloudsite-app.service",
                     "systemctl enable cloudsite-worker.service", "systemctl restart cloudsite-worker.service"]


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


def test_validate_service_fails_when_nothing_listens(scratch):
    from cloudsite.live import free_port

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
