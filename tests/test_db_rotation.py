"""The live rotation: gunicorn serves the app as the least-privilege user, its credentials read from
Secrets Manager (a moto_server) at connect time, while the password is rotated twice on the real
MariaDB. Every request must succeed; at the end only the newest password works.

Connections are not kept (``DATABASE_CONN_MAX_AGE=0``): every request opens a new one, so logins
happen before, during and after each rotation. The first rotation runs as ``manage.py
rotate_db_credentials`` (a real process); the second runs the same steps in-process and holds still
after setSecret until the app has served more requests, so some logins happen exactly while the
database already has the new password and AWSCURRENT still names the old one (only AWSPENDING
works then: MariaDB keeps no old password).
"""
import threading

import boto3

from devkit import live
from devkit.testing import write_stack
from provisioning.db_rotation import Database, DirectExecutor, Rotation
from tests.rotation_fixtures import can_login, make_stack, secret_password

USERNAME, PASSWORD = "Rotate@Example.com", "rotate-harbour-42-lantern"
MAX_REQUESTS = 20000  # the load is bounded in count, and stops when the test is done
REFRESH_LOGGED = "login refused with the cached credentials; the re-read secret worked"


class Load:
    """A thread sending requests (health check and an authenticated read) until stopped."""

    def __init__(self, port):
        self.port, self.statuses, self.stop = port, [], threading.Event()
        self.progress = threading.Condition()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        auth = live.basic(USERNAME, PASSWORD)
        while not self.stop.is_set() and len(self.statuses) < MAX_REQUESTS:
            for path, header in (("/healthz", None), ("/v1/user/self", auth)):
                try:
                    status = live.request(self.port, "GET", path, header)[0]
                except OSError as error:
                    status = f"{type(error).__name__}"
                with self.progress:
                    self.statuses.append((path, status))
                    self.progress.notify_all()

    def wait_for(self, more: int, timeout: float = 60):
        """Block until ``more`` further requests have been answered (or the bound is reached)."""
        with self.progress:
            target = len(self.statuses) + more
            assert self.progress.wait_for(lambda: len(self.statuses) >= target or not self.thread.is_alive(),
                                          timeout), "the load thread stopped answering"

    def __enter__(self):
        self.thread.start()
        self.wait_for(20)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=60)


def test_rotation_while_gunicorn_serves(mariadb, tmp_path):
    with live.moto_server(tmp_path / "moto.log") as endpoint:
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
        sm, ssm = session.client("secretsmanager", endpoint_url=endpoint), session.client("ssm", endpoint_url=endpoint)
        made = make_stack(mariadb, sm, ssm)
        server = mariadb.server
        env = live.app_environment(
            tmp_path, endpoint, DATABASE_URL=f"mysql://{made['user']}@{server.host}:{server.port}/{made['database']}",
            DATABASE_SECRET_ARN=made["app_arn"], DATABASE_CONN_MAX_AGE="0", LOG_FILE=str(tmp_path / "app.log"))
        live.manage(env, "migrate", "--noinput", "-v0")  # as the app user: its grants suffice for migrations
        live.create_verified_user(env, USERNAME, PASSWORD)
        write_stack(tmp_path / "stacks", "dev")

        with live.gunicorn(env, tmp_path / "gunicorn.log", workers=2) as (port, _master), Load(port) as load:
            out = live.manage(env, "rotate_db_credentials", "--stack", "dev", "--stacks-dir", str(tmp_path / "stacks"),
                              "--direct", f"{server.host}:{server.port}", "--no-tls")
            assert "rotated the app's database password for stack dev" in out
            middle = secret_password(sm, made["app_arn"])
            load.wait_for(20)

            def hold_after_set(line):
                if line.startswith("setSecret"):
                    load.wait_for(20)  # logins while only AWSPENDING works

            database = Database("db.cloudsite.invalid", 3306, made["database"], made["admin"])
            executor = DirectExecutor(server.host, server.port, tls=False)
            Rotation(sm, made["app_arn"], database, executor, say=hold_after_set).run()
            load.wait_for(20)

        final = secret_password(sm, made["app_arn"])
        failures = [(path, status) for path, status in load.statuses if status != 200]
        assert load.statuses and not failures, \
            f"{len(failures)} of {len(load.statuses)} requests failed: {failures[:5]}"
        assert len({final, middle, made["password"]}) == 3
        assert can_login(mariadb, made["user"], final, made["database"])
        assert not can_login(mariadb, made["user"], made["password"])
        assert not can_login(mariadb, made["user"], middle)
        stages = sm.describe_secret(SecretId=made["app_arn"])["VersionIdsToStages"]
        assert [labels for labels in stages.values() if "AWSPENDING" in labels] == []
        logged = (tmp_path / "app.log").read_text() + (tmp_path / "gunicorn.log").read_text()
        assert REFRESH_LOGGED in logged  # the backend's retry is what kept the requests green
        assert final not in logged and middle not in logged and made["password"] not in logged
