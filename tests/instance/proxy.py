"""The load balancer: HAProxy (Debian's) in front of the instance, as the ALB stands in front of it.

It terminates TLS with the test CA's certificate, sets ``X-Forwarded-For`` (appended, as the ALB
does), ``X-Forwarded-Proto: https`` and ``X-Forwarded-Port``, and health-checks ``GET /healthz``
with ``Host: <target address>:<port>``, the way the ALB checks a target (ELB User Guide, "Health
checks for Application Load Balancer target groups"): the target is ``127.0.0.2``, an address the
app's ``ALLOWED_HOSTS`` does not list. ``healthy()`` reads the server's state from HAProxy's stats
socket.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from devkit import live

TARGET = "127.0.0.2"
CONFIG = """\
global
    stats socket {socket} mode 600 level admin
    maxconn 256

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 120s

frontend https
    bind 127.0.0.1:{port} ssl crt {pem}
    option forwardfor
    http-request set-header X-Forwarded-Proto https
    http-request set-header X-Forwarded-Port {port}
    default_backend instance

backend instance
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host {target}:{app_port}
    http-check expect status 200
    server instance {target}:{app_port} check inter 1s fall 2 rise 2
"""


class Proxy:
    def __init__(self, port: int, app_port: int, cert: Path, key: Path):
        self.port, self.app_port = port, app_port
        self.directory = Path(tempfile.mkdtemp(prefix="cloudsite-proxy-", dir="/var/tmp"))
        self.pem = self.directory / "proxy.pem"  # HAProxy takes the certificate and its key in one file
        self.pem.write_bytes(cert.read_bytes() + key.read_bytes())
        self.pem.chmod(0o600)
        self.socket = self.directory / "admin.sock"
        self.config = self.directory / "haproxy.cfg"
        self.config.write_text(CONFIG.format(socket=self.socket, port=port, pem=self.pem, target=TARGET,
                                             app_port=app_port))
        self.process = None

    def __enter__(self):
        check = subprocess.run(["haproxy", "-c", "-f", str(self.config)], capture_output=True, text=True)
        if check.returncode:
            raise RuntimeError(f"haproxy rejects its configuration: {check.stdout}{check.stderr}")
        self.log = open(self.directory / "haproxy.log", "wb")
        self.process = subprocess.Popen(["haproxy", "-db", "-f", str(self.config)], stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("haproxy did not start: " + (self.directory / "haproxy.log").read_text())
            time.sleep(0.1)
        return self

    def stats(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.socket))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def target_status(self) -> str:
        """``UP``, ``DOWN``, ``UP 1/2``..., with the last check's result."""
        lines = self.stats("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("pxname") == "instance" and row.get("svname") == "instance":
                return f"{row['status']} ({row.get('check_status')} {row.get('check_code')}: {row.get('last_chk')})"
        return "unknown"

    def wait_healthy(self, timeout: float = 60) -> str:
        """Until a health check has passed and the target is UP (HAProxy counts a server UP before
        its first check, so a passed L7 check is required too)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.target_status()
            if status.startswith("UP (L7OK"):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"the load balancer's target never turned healthy: {status}")
            time.sleep(0.5)

    def __exit__(self, *exc):
        if self.process:
            live.stop(self.process)
        shutil.rmtree(self.directory, ignore_errors=True)
