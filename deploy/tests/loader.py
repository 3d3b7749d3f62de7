"""Import the Lambda handler from the deployment zip itself, as Lambda would."""
import importlib
import io
import sys
import zipfile
from contextlib import contextmanager
from pathlib import Path

from deploy.lambda_zip import build_lambda_zip

MODULES = ("handler", "verification_emails", "verification_tokens")


@contextmanager
def handler_from_zip(directory: Path):
    """Unpack the zip into ``directory`` and yield its imported ``handler`` module."""
    zipfile.ZipFile(io.BytesIO(build_lambda_zip())).extractall(directory)
    sys.path.insert(0, str(directory))
    try:
        for name in MODULES:
            sys.modules.pop(name, None)
        yield importlib.import_module("handler")
    finally:
        sys.path.remove(str(directory))
        for name in MODULES:
            sys.modules.pop(name, None)
