"""Import the Lambda handler from the deployment zip itself, as Lambda would."""
import sys
from contextlib import contextmanager
from pathlib import Path

from deploy.lambda_zip import SOURCES, import_handler

MODULES = tuple(name.removesuffix(".py") for name in SOURCES)


@contextmanager
def handler_from_zip(directory: Path):
    """Unpack the zip into ``directory`` and yield its imported ``handler`` module."""
    try:
        yield import_handler(directory)
    finally:
        sys.path.remove(str(directory))
        for name in MODULES:
            sys.modules.pop(name, None)
