"""A per-checkout secret key for the embedded defaults, so none is ever committed."""
import os
import secrets
from pathlib import Path


def load_or_create_secret_key(var_dir: Path) -> str:
    """Return the key stored in ``var_dir/secret_key``, creating it (mode 0600) on first use.

    Production sets ``DJANGO_SECRET_KEY`` from Secrets Manager instead.
    """
    path = Path(var_dir) / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
