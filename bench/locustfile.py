"""Load test with the seed's traffic mix: sign-up, get and update self, picture upload and fetch.

Against a real stack (drives its auto scaling group; watch the CPU alarms and the group size):

    locust -f bench/locustfile.py --host https://dev.example.com \\
        --users 200 --spawn-rate 10 --run-time 15m --headless

Authenticated traffic needs verified accounts, since following e-mail links is not part of a load
test: ``CLOUDSITE_LOAD_ACCOUNTS`` names a file of ``email:password`` lines (make them once, e.g.
with ``manage.py shell`` on an instance through SSM Session Manager). Sign-ups create fresh,
unverified accounts under ``CLOUDSITE_LOAD_DOMAIN`` (default ``load.example.com``; SES's sandbox
refuses unverified recipients, so these mails go nowhere). ``bench/load.py`` runs this file
headless against the local app.
"""
import base64
import itertools
import os
import struct
import uuid
import zlib

from locust import HttpUser, between, task


def _accounts():
    path = os.environ.get("CLOUDSITE_LOAD_ACCOUNTS", "")
    if not path:
        raise SystemExit("CLOUDSITE_LOAD_ACCOUNTS: a file of email:password lines of verified accounts")
    with open(path) as handle:
        pairs = [line.strip().split(":", 1) for line in handle if ":" in line]
    return itertools.cycle(pairs)


ACCOUNTS = _accounts()
DOMAIN = os.environ.get("CLOUDSITE_LOAD_DOMAIN", "load.example.com")


def small_png() -> bytes:
    """A valid 1x1 PNG, built here so the load test ships no binary."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


PNG = small_png()


class SiteUser(HttpUser):
    wait_time = between(0.5, 2)

    def on_start(self):
        email, password = next(ACCOUNTS)
        token = base64.b64encode(f"{email}:{password}".encode()).decode()
        self.client.headers["Authorization"] = f"Basic {token}"

    @task(1)
    def sign_up(self):
        self.client.post("/v1/user", name="POST /v1/user", headers={"Authorization": ""}, json={
            "username": f"load-{uuid.uuid4().hex[:12]}@{DOMAIN}",
            "password": f"load-{uuid.uuid4().hex}", "first_name": "Load", "last_name": "Test"})

    @task(10)
    def get_self(self):
        self.client.get("/v1/user/self", name="GET /v1/user/self")

    @task(3)
    def update_self(self):
        self.client.put("/v1/user/self", name="PUT /v1/user/self",
                        json={"first_name": f"Load {uuid.uuid4().hex[:6]}"})

    @task(1)
    def upload_picture(self):
        self.client.post("/v1/user/self/pic", name="POST /v1/user/self/pic",
                         files={"image": ("load.png", PNG, "image/png")})

    @task(4)
    def fetch_picture(self):
        with self.client.get("/v1/user/self/pic", name="GET /v1/user/self/pic",
                             catch_response=True) as response:
            if response.status_code == 404:  # no picture uploaded yet: not a failure
                response.success()
