"""Build the db-admin Lambda's deployment zip, reproducibly (``deploy/db_admin/``).

The zip holds ``handler.py``, ``users.py``, the installed ``pymysql`` package (pure Python, so
nothing is compiled for Lambda's platform; PyMySQL's licence and metadata ride along) and the RDS
CA bundle as ``rds-ca.pem``. Same sources, same PyMySQL version and same CA bundle give the same
bytes (``lambda_zip.reproducible_zip``: sorted entries, fixed timestamps and permissions), so the
data layer can compare a hash and update the function only when something changed.

Why the CA bundle goes into the zip at build time: the function runs in private subnets with no
route out, so it cannot fetch the bundle itself, and shipping it makes certificate verification
independent of whatever the Lambda image holds. It is read from ``CLOUDSITE_RDS_CA_BUNDLE`` (a
local copy, e.g. for an offline build) or else downloaded over verified HTTPS from AWS's published
URL, so a rebuilt zip follows AWS's CA changes. A zip for a database that needs no TLS (a test, the
emulated stack) passes ``ca_bundle=b""`` and holds none; its events must say ``tls: false``.

Over TLS, PyMySQL needs no ``cryptography`` package for MySQL 8.4's ``caching_sha2_password``
(the password goes through the encrypted channel), so the zip stays pure Python.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import io
import os
import ssl
import sys
import urllib.request
import zipfile
from pathlib import Path

from deploy.bootstrap import RDS_CA_BUNDLE_URL
from deploy.lambda_zip import reproducible_zip

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {
    "handler.py": ROOT / "deploy" / "db_admin" / "handler.py",
    "users.py": ROOT / "deploy" / "db_admin" / "users.py",
}
HANDLER = "handler.handler"
RUNTIME = "python3.12"
CA_BUNDLE_NAME = "rds-ca.pem"
CA_BUNDLE_ENV = "CLOUDSITE_RDS_CA_BUNDLE"
DRIVER = "PyMySQL"


class CABundleError(Exception):
    """The RDS CA bundle could not be had (offline, or the file is not a PEM bundle)."""


def build_db_admin_zip(ca_bundle: bytes | None = None) -> bytes:
    """The zip's bytes. ``ca_bundle``: the PEM bundle to ship; ``None`` = ``rds_ca_bundle()``;
    ``b""`` = none (only for databases reached without TLS)."""
    entries = {name: path.read_bytes() for name, path in SOURCES.items()}
    entries.update(driver_files())
    bundle = rds_ca_bundle() if ca_bundle is None else ca_bundle
    if bundle:
        entries[CA_BUNDLE_NAME] = check_pem(bundle)
    return reproducible_zip(entries)


def db_admin_zip_sha256(ca_bundle: bytes | None = None) -> str:
    return hashlib.sha256(build_db_admin_zip(ca_bundle)).hexdigest()


def driver_files() -> dict[str, bytes]:
    """``pymysql/**`` from the installed package (no byte code), plus its licence and METADATA."""
    package = Path(importlib.util.find_spec("pymysql").submodule_search_locations[0])
    files = {
        f"pymysql/{path.relative_to(package).as_posix()}": path.read_bytes()
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    distribution = importlib.metadata.distribution(DRIVER)
    for entry in distribution.files or ():
        name = entry.as_posix()
        if name.endswith("/METADATA") or "LICENSE" in name.upper().rsplit("/", 1)[-1]:
            files[name] = entry.locate().read_bytes()
    return files


@functools.cache
def rds_ca_bundle() -> bytes:
    """The RDS CA bundle: the file named by ``CLOUDSITE_RDS_CA_BUNDLE``, or AWS's published one."""
    path = os.environ.get(CA_BUNDLE_ENV)
    if path:
        try:
            return check_pem(Path(path).read_bytes())
        except OSError as error:
            raise CABundleError(f"{CA_BUNDLE_ENV}={path}: {error.strerror}") from None
    try:
        context = ssl.create_default_context()
        with urllib.request.urlopen(RDS_CA_BUNDLE_URL, timeout=30, context=context) as response:
            return check_pem(response.read())
    except OSError as error:
        raise CABundleError(f"cannot fetch the RDS CA bundle from {RDS_CA_BUNDLE_URL} ({error}); "
                            f"set {CA_BUNDLE_ENV} to a local copy of it") from None


def check_pem(data: bytes) -> bytes:
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise CABundleError("the RDS CA bundle holds no PEM certificate")
    return data


def import_handler(directory: Path, ca_bundle: bytes | None = None):
    """Unpack the zip into ``directory`` and import its ``handler`` module, as Lambda would (the
    driver already imported here stays in use: ``test_db_admin`` runs the zip alone, with ``-S``)."""
    zipfile.ZipFile(io.BytesIO(build_db_admin_zip(ca_bundle))).extractall(directory)
    sys.path.insert(0, str(directory))
    for name in ("handler", "users"):
        sys.modules.pop(name, None)
    return importlib.import_module("handler")
