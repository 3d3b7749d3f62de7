"""Build the verification Lambda's deployment zip, reproducibly.

The same sources give the same bytes (fixed timestamps, order, permissions and compression), so
the pipeline can compare a hash and update the function only when the code changed.
"""
import hashlib
import importlib
import io
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Archive name -> source file. The app's own modules ride along so both e-mails are the same.
SOURCES = {
    "handler.py": ROOT / "deploy" / "lambda" / "handler.py",
    "verification_emails.py": ROOT / "accounts" / "verification" / "emails.py",
    "verification_tokens.py": ROOT / "accounts" / "verification" / "tokens.py",
}
HANDLER = "handler.lambda_handler"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def reproducible_zip(entries: dict[str, bytes]) -> bytes:
    """A zip of ``{archive name: content}`` whose bytes depend on nothing else: sorted names, a
    fixed timestamp, mode 0644, Unix as the creating system, one compression level."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            info.create_system = 3
            archive.writestr(info, entries[name], compresslevel=9)
    return buffer.getvalue()


def build_lambda_zip() -> bytes:
    return reproducible_zip({name: path.read_bytes() for name, path in SOURCES.items()})


def lambda_zip_sha256() -> str:
    return hashlib.sha256(build_lambda_zip()).hexdigest()


def import_handler(directory: Path):
    """Unpack the zip into ``directory`` and import its ``handler`` module, as Lambda would.

    For running the function where no Lambda runtime is (the local emulated cloud, tests).
    """
    zipfile.ZipFile(io.BytesIO(build_lambda_zip())).extractall(directory)
    sys.path.insert(0, str(directory))
    for name in SOURCES:
        sys.modules.pop(name.removesuffix(".py"), None)
    return importlib.import_module("handler")
