"""StatsD metrics and JSON logs, from the app running as a real process (gunicorn) against a
moto_server, with a UDP listener on loopback standing in for the CloudWatch agent."""
import json
import socket
import urllib.parse

import pytest
from django.test import Client

from devkit import live
from files.tests.conftest import image_bytes

USERNAME, PASSWORD = "Obs@Example.com", "observe-harbour-42-lantern"
SECRET_KEY = "obs-secret-key-" + "k" * 40
TOKEN = "tok-should-never-be-logged-123"


def udp_listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    return sock


def received_metrics(sock, timeout=1.0) -> dict:
    """``{name: {types}}`` of every StatsD line waiting on the socket."""
    sock.settimeout(timeout)
    metrics = {}
    try:
        while True:
            packet = sock.recv(65535).decode()
            for line in packet.splitlines():
                name, rest = line.split(":", 1)
                metrics.setdefault(name, set()).add(rest.split("|")[1])
    except socket.timeout:
        return metrics


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Drive every endpoint once through gunicorn; return the metrics, log lines and answers."""
    workdir = tmp_path_factory.mktemp("obs")
    sock = udp_listener()
    with live.moto_server(workdir / "moto.log") as endpoint:
        s3, kms = live.s3_and_kms(endpoint)
        s3.create_bucket(Bucket="obs-media")
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        env = live.app_environment(
            workdir, endpoint, "obs-media", key, STATSD_HOST="127.0.0.1",
            STATSD_PORT=str(sock.getsockname()[1]), CLOUDSITE_STACK="obs",
            CLOUDSITE_REQUIRE_SHARED_CACHE="false",  # one gunicorn process: its own cache is shared
            LOG_FILE=str(workdir / "app.log"), DJANGO_SECRET_KEY=SECRET_KEY)
        live.manage(env, "migrate", "--noinput", "-v0")
        live.create_verified_user(env, USERNAME, PASSWORD)
        auth = live.basic(USERNAME, PASSWORD)
        answers = {}
        with live.gunicorn(env, workdir / "gunicorn.log") as (port, _):
            answers["signup"] = live.request_json(port, "POST", "/v1/user", {
                "username": "new@example.com", "password": PASSWORD, "first_name": "N",
                "last_name": "U"})
            answers["self"] = live.request(port, "GET", "/v1/user/self", auth)
            answers["wrong"] = live.request(port, "GET", "/v1/user/self",
                                            live.basic(USERNAME, "wrong-" + PASSWORD))
            answers["put"] = live.request_json(port, "PUT", "/v1/user/self",
                                               {"first_name": "Obi"}, auth)
            query = urllib.parse.urlencode({"email": USERNAME, "token": TOKEN})
            answers["verify"] = live.request(port, "GET", f"/v1/user/verify?{query}")
            answers["resend"] = live.request(port, "POST", "/v1/user/self/verification", auth)
            picture = image_bytes("PNG")
            answers["pic"] = live.post_multipart(port, "/v1/user/self/pic", auth, "me.png",
                                                 picture, len(picture))
            answers["pic_get"] = live.request(port, "GET", "/v1/user/self/pic", auth)
            answers["download"] = live.request(port, "GET", "/v1/user/self/pic/download", auth)
            answers["pic_delete"] = live.request(port, "DELETE", "/v1/user/self/pic", auth)
            answers["traced"] = live.request_headers(
                port, "GET", "/healthz", {"X-Amzn-Trace-Id": "Root=1-67891233-abcdef012345678912345678"})
        metrics = received_metrics(sock)
    sock.close()
    log_text = (workdir / "app.log").read_text()
    stdout_text = (workdir / "gunicorn.log").read_text()
    return {"metrics": metrics, "log_text": log_text, "stdout": stdout_text,
            "lines": [json.loads(line) for line in log_text.splitlines() if line.strip()],
            "answers": answers}


def test_answers_were_as_expected(run):
    codes = {name: answer[0] for name, answer in run["answers"].items()}
    assert codes == {"signup": 201, "self": 200, "wrong": 401, "put": 204, "verify": 400,
                     "resend": 400, "pic": 201, "pic_get": 200, "download": 302,
                     "pic_delete": 204, "traced": 200}


@pytest.mark.parametrize("endpoint", [
    "post.user", "get.user.self", "put.user.self", "get.user.verify",
    "post.user.self.verification", "post.user.self.pic", "get.user.self.pic",
    "get.user.self.pic.download", "delete.user.self.pic", "get.healthz"])
def test_each_endpoint_has_counter_and_timer(run, endpoint):
    metrics = run["metrics"]
    assert metrics.get(f"cloudsite.obs.{endpoint}.counter") == {"c"}, sorted(metrics)
    assert metrics.get(f"cloudsite.obs.{endpoint}.timer") == {"ms"}


def test_django_statsd_view_status_and_query_metrics(run):
    names = run["metrics"]
    assert names.get("cloudsite.obs.view.http_codes.2xx") == {"c"}
    assert names.get("cloudsite.obs.view.http_codes.4xx") == {"c"}
    assert names.get("cloudsite.obs.view.get.accounts.views.SelfView.total") == {"ms"}
    assert names.get("cloudsite.obs.view.post.files.views.PictureView.total") == {"ms"}
    assert names.get("cloudsite.obs.view.put.accounts.views.SelfView.sql.default") == {"ms"}


def test_aws_calls_are_timed(run):
    metrics = run["metrics"]
    assert metrics.get("cloudsite.obs.s3.put.timer") == {"ms"}, sorted(metrics)
    assert metrics.get("cloudsite.obs.s3.delete.timer") == {"ms"}


def test_log_lines_are_json_with_request_context(run):
    access = [line for line in run["lines"] if line["logger"] == "cloudsite.request"]
    # Every answer has its line (plus the health checks gunicorn's start-up wait made).
    assert len([line for line in access if line["path"] != "/healthz"]) == len(run["answers"]) - 1
    for line in access:
        assert {"time", "level", "logger", "message", "request_id", "method", "path", "status",
                "duration_ms"} <= set(line)
        assert line["time"].endswith("Z")
    self_line = next(line for line in access if line["path"] == "/v1/user/self"
                     and line["status"] == 200)
    assert self_line["user_id"] and self_line["method"] == "GET"
    assert not any("user_id" in line for line in access if line["status"] == 401)
    verify_line = next(line for line in access if line["path"] == "/v1/user/verify")
    assert "?" not in verify_line["path"]


def test_request_id_is_returned_and_taken_from_the_load_balancer(run):
    _status, headers, _body = run["answers"]["traced"]
    assert headers["X-Request-Id"] == "Root=1-67891233-abcdef012345678912345678"
    ids = [line["request_id"] for line in run["lines"] if line["logger"] == "cloudsite.request"]
    assert "Root=1-67891233-abcdef012345678912345678" in ids
    assert len(set(ids)) == len(ids)  # the others got fresh ids each


def test_no_secret_in_any_log(run):
    everything = run["log_text"] + run["stdout"]
    for secret in (PASSWORD, TOKEN, SECRET_KEY, live.basic(USERNAME, PASSWORD).split()[1]):
        assert secret not in everything


@pytest.mark.django_db
def test_no_statsd_host_means_no_packets():
    """Default settings: StatsD off. A listener on the default port hears nothing."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 8125))
    except OSError:
        pytest.skip("port 8125 is taken on this machine")
    try:
        assert Client().get("/healthz").status_code == 200
        assert Client().post("/v1/user", {}, content_type="application/json").status_code == 400
        assert received_metrics(sock, timeout=0.5) == {}
    finally:
        sock.close()

