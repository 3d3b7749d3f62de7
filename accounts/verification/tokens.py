"""Token values and what a check of one can find."""
import enum
import hashlib
import secrets


class TokenState(enum.Enum):
    VALID = "valid"  # matches, unexpired, not used yet
    USED = "used"  # matches and was already followed
    INVALID = "invalid"  # unknown, for another address, superseded or expired


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Stores keep a digest, so a leaked table holds no working link."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
