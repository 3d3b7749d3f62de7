"""Run the app, a moto_server and a Celery worker as real processes on loopback (live tests, benches).

Nothing here talks to real AWS: every client gets fake credentials and an ``AWS_ENDPOINT_URL`` on
127.0.0.1.
"""
import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(port: int, path: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before answering")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing answered on 127.0.0.1:{port}{path} within {timeout}s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@contextmanager
def moto_server(log_path: Path | None = None, env: dict | None = None):
    """A ``moto_server`` on a free loopback port, one request at a time (``serial_moto``: moto's
    backends are not thread-safe); yields its endpoint URL."""
    port = free_port()
    env = {**os.environ, **FAKE_AWS, "MOTO_ACM_VALIDATION_WAIT": "0", **(env or {})}
    env.pop("AWS_ENDPOINT_URL", None)
    with open(log_path or os.devnull, "wb") as log:
        process = subprocess.Popen(
            [PYTHON, "-m", "devkit.serial_moto", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
        )
        try:
            wait_for_http(port, "/moto-api/", process)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(process)


def s3_and_kms(endpoint: str):
    import boto3

    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                            region_name="us-east-1")
    return (session.client("s3", endpoint_url=endpoint), session.client("kms", endpoint_url=endpoint))


def app_environment(workdir: Path, endpoint: str, bucket: str = "", kms_key: str = "",
                    **extra) -> dict:
    """The environment of an app process on its own SQLite file, pointed at ``endpoint``."""
    env = {**os.environ, **FAKE_AWS}
    for name in ("DJANGO_SETTINGS_MODULE", "CLOUDSITE_S3_BUCKET", "CACHE_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    env.update({
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "CLOUDSITE_VAR_DIR": str(workdir),
        "DJANGO_SECRET_KEY": "live-test-" + uuid.uuid4().hex,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "AWS_ENDPOINT_URL": endpoint,
        "TMPDIR": str(workdir),
        **extra,
    })
    if bucket:
        env.update(CLOUDSITE_S3_BUCKET=bucket, CLOUDSITE_S3_KMS_KEY_ID=kms_key)
    return env


def manage(env: dict, *args: str) -> str:
    result = subprocess.run([PYTHON, "manage.py", *args], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300)
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def create_verified_user(env: dict, username: str, password: str) -> None:
    manage(env, "shell", "-c", (
        "from accounts.models import User; "
        f"User.objects.create_user({username!r}, {password!r}, first_name='Live', "
        "last_name='Test', verified=True)"
    ))


@contextmanager
def gunicorn(env: dict, log_path: Path, workers: int = 1):
    """The app under gunicorn (sync workers) on a free loopback port; yields (port, master)."""
    port = free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "cloudsite.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers), "--worker-class", "sync", "--timeout", "900"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            wait_for_http(port, "/healthz", process)
            yield port, process
        finally:
            stop(process)


def worker_pids(master_pid: int) -> list[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return [int(pid) for pid in children]


@contextmanager
def celery_worker(env: dict, log_path: Path, queue: str = "celery"):
    """A Celery worker process of the cloudsite app consuming ``queue``; yields the process."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [PYTHON, "-m", "celery", "-A", "cloudsite", "worker", "--pool", "solo",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", queue,
             "--loglevel", "INFO"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            stop(process)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def post_multipart(port: int, path: str, auth: str, file_name: str, source, size: int,
                   content_type: str = "image/png", timeout: float = 900):
    """POST ``source`` (bytes or a binary file) as the ``image`` part, streamed with a
    Content-Length. Returns (status, headers, body)."""
    boundary = "cloudsite" + uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.putrequest("POST", path)
    conn.putheader("Authorization", auth)
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + size + len(tail)))
    conn.endheaders()
    conn.send(head)
    if isinstance(source, bytes):
        conn.send(source)
    else:
        while chunk := source.read(1024 * 1024):
            conn.send(chunk)
    conn.send(tail)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), body


def request(port: int, method: str, path: str, auth: str | None = None):
    return request_headers(port, method, path, {"Authorization": auth} if auth else {})


def request_headers(port: int, method: str, path: str, headers: dict, body: bytes | None = None):
    """Returns (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), body


def json_body(body: bytes):
    return json.loads(body.decode())


def request_json(port: int, method: str, path: str, payload, auth: str | None = None):
    """Send ``payload`` as JSON; returns (status, headers, body)."""
    headers = {"Content-Type": "application/json", **({"Authorization": auth} if auth else {})}
    return request_headers(port, method, path, headers, json.dumps(payload).encode())
