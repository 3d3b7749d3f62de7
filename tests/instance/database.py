"""The stack's "RDS": the host's MariaDB server binary, as a second server of the test's own that
speaks TLS with a certificate for the emulated instance's endpoint names.

The app verifies the database's certificate (``ssl_mode=VERIFY_IDENTITY`` against
``/etc/cloudsite/rds-ca.pem``), and the session's shared MariaDB has TLS off, so the test starts
``mariadbd`` on ``127.0.0.2:3306`` (all of 127/8 is loopback; 3306 is the port the emulated RDS
reports) with its own data directory. The root's ``/etc/hosts`` sends the endpoints there, and the
db-admin function's stand-in (``CLOUDSITE_EMULATOR_MYSQL``) makes the master and app users in it.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pymysql

from devkit import live

HOST, PORT = "127.0.0.2", 3306


class TlsMariaDB:
    def __init__(self, cert: Path, key: Path, ca: Path):
        self.cert, self.key, self.ca = cert, key, ca
        self.directory = Path(tempfile.mkdtemp(prefix="cloudsite-rds-", dir="/var/tmp"))
        self.process = None

    @property
    def url(self) -> str:
        return f"mysql://root@{HOST}:{PORT}"

    def __enter__(self):
        data, socket = self.directory / "data", self.directory / "mysqld.sock"
        try:
            subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                            "--auth-root-authentication-method=normal", "--skip-test-db"],
                           check=True, capture_output=True, text=True)
            self.log = open(self.directory / "mariadbd.log", "wb")
            self.process = subprocess.Popen(
                ["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={socket}", "--user=root",
                 f"--bind-address={HOST}", f"--port={PORT}", "--skip-name-resolve",
                 f"--ssl-cert={self.cert}", f"--ssl-key={self.key}", f"--ssl-ca={self.ca}",
                 f"--pid-file={self.directory / 'mysqld.pid'}", "--innodb-buffer-pool-size=64M"],
                stdout=self.log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 60
            while True:
                try:
                    with pymysql.connect(unix_socket=str(socket), user="root", autocommit=True) as db:
                        with db.cursor() as cursor:  # root over TCP from loopback, for the stand-ins
                            cursor.execute("CREATE USER IF NOT EXISTS 'root'@'127.%'")
                            cursor.execute("GRANT ALL ON *.* TO 'root'@'127.%' WITH GRANT OPTION")
                    break
                except pymysql.err.OperationalError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the TLS MariaDB did not start: "
                                           + (self.directory / "mariadbd.log").read_text()[-2000:])
                    time.sleep(0.3)
        except BaseException:
            self.__exit__()
            raise
        return self

    def connect(self, **kwargs):
        return pymysql.connect(host=HOST, port=PORT, user="root", autocommit=True, **kwargs)

    def __exit__(self, *exc):
        if self.process:
            live.stop(self.process)
        shutil.rmtree(self.directory, ignore_errors=True)
