"""No token, verification link, password or Basic username in any log line, in any mode.

A full flow (sign-up, the e-mail, the link followed, self, a picture, and the requests that make
Django and gunicorn write error lines) runs through a gunicorn process with its access log on,
gunicorn's and Django's loggers at DEBUG, Celery eager and ``LOG_FILE`` set; the e-mail goes to
the file backend (the mailbox, not a log). Then every byte the process logged is searched.
"""
import base64
import json
import socket
import urllib.parse

import pytest

from devkit import live
from files.tests.conftest import image_bytes

USERNAME, PASSWORD = "Ida.Secret@Example.com", "unlogged-harbour-42-lantern"


def raw_request(port: int, data: bytes) -> bytes:
    """Send bytes as they are (a request gunicorn refuses to parse); return its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def mailed_link(mail_dir) -> str:
    (message,) = [path.read_text() for path in mail_dir.iterdir()]
    (line,) = [line for line in message.splitlines() if "/v1/user/verify?" in line and "href" not in line]
    return line.strip()


@pytest.fixture(scope="module", params=["debug-off", "debug-on"])
def flow(request, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp(request.param)
    env = live.app_environment(
        tmp_path, "http://127.0.0.1:9", LOG_LEVEL="DEBUG", LOG_FILE=str(tmp_path / "app.log"),
        DJANGO_DEBUG="true" if request.param == "debug-on" else "false",
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(tmp_path / "mail"),
        GUNICORN_CMD_ARGS="--access-logfile - --log-level debug")
    live.manage(env, "migrate", "--noinput", "-v0")
    auth = live.basic(USERNAME, PASSWORD)
    answers = {}
    with live.gunicorn(env, tmp_path / "gunicorn.log") as (port, _):
        answers["signup"] = live.request_json(port, "POST", "/v1/user", {
            "username": USERNAME, "password": PASSWORD, "first_name": "Ida", "last_name": "Lo"})
        link = mailed_link(tmp_path / "mail")
        target = urllib.parse.urlsplit(link)
        path = f"{target.path}?{target.query}"
        # followed from a page that sends the link as referer, then again (already used)
        answers["verify"] = live.request_headers(port, "GET", path, {"Referer": link})
        answers["verify again"] = live.request(port, "GET", path)
        answers["self"] = live.request(port, "GET", "/v1/user/self", auth)
        answers["wrong password"] = live.request(port, "GET", "/v1/user/self",
                                                 live.basic(USERNAME, PASSWORD + "x"))
        png = image_bytes("PNG")
        answers["picture"] = live.post_multipart(port, "/v1/user/self/pic", auth, "me.png", png, len(png))
        # Django's django.security.DisallowedHost line carries the request (its repr: the full path)
        answers["bad host"] = live.request_headers(port, "GET", path, {"Host": "evil.example"})
        # gunicorn's error log quotes a request line it cannot parse (here: no protocol)
        answers["bad request line"] = raw_request(port, f"GET {path}\r\nHost: 127.0.0.1\r\n\r\n".encode())
    token = urllib.parse.parse_qs(target.query)["token"][0]
    logged = (tmp_path / "gunicorn.log").read_text() + (tmp_path / "app.log").read_text()
    return {"answers": answers, "link": link, "token": token, "logged": logged, "auth": auth}


def test_the_flow_ran(flow):
    """The flow did what the log search relies on: every step answered, every log was written."""
    answers, logged = flow["answers"], flow["logged"]
    assert answers["signup"][0] == 201, answers["signup"]
    assert answers["verify"][0] == 200 and answers["verify again"][0] == 200
    assert answers["self"][0] == 200 and answers["wrong password"][0] == 401
    assert answers["picture"][0] == 201, answers["picture"]
    assert answers["bad host"][0] == 400 and answers["bad request line"].startswith(b"HTTP/1.1 400")
    lines = logged.splitlines()
    # gunicorn's access log is on (one line per request, the request id the JSON line has) ...
    assert any('"GET /v1/user/verify HTTP/1.1" 200' in line for line in lines), logged[-3000:]
    assert any('"POST /v1/user/self/pic HTTP/1.1" 201' in line for line in lines)
    # ... its error log at debug, with the refused request line's query redacted
    assert any("Invalid HTTP request line" in line and "/v1/user/verify?<redacted>" in line for line in lines)
    # Django at DEBUG, the security logger's line with the request, Celery's eager task trace
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(r["level"] == "DEBUG" for r in records)
    disallowed = [r for r in records if r["logger"] == "django.security.DisallowedHost"]
    assert disallowed and all("/v1/user/verify?<redacted>" in r["request"] for r in disallowed)
    assert any(r["logger"] == "celery.app.trace" and "send_verification_email" in r["message"] and
               r["level"] == "INFO" for r in records)


def test_no_secret_in_any_log_line(flow):
    logged = flow["logged"]
    secrets = {
        "token": flow["token"],
        "link": flow["link"],
        "password": PASSWORD,
        "username": USERNAME.lower(),
        "username, URL-encoded": urllib.parse.quote(USERNAME.lower()),
        "Basic credentials": flow["auth"].split()[1],
        "Basic credentials, decoded": base64.b64decode(flow["auth"].split()[1]).decode(),
    }
    found = {name: logged.lower().count(value.lower()) for name, value in secrets.items()}
    assert found == dict.fromkeys(secrets, 0), [line for line in logged.splitlines()
                                                if flow["token"] in line or USERNAME.lower() in line.lower()][:5]
