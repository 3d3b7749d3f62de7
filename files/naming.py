"""File names and object keys: readable, safe as S3 keys and as file-system paths."""
import re
import unicodedata

NAME_MAX_CHARS = 150
NAME_MAX_BYTES = 255  # one path component on common file systems
DEFAULT_STEM = "picture"

# Path separators, characters S3 documents as "to avoid" in keys, and shell/URL troublemakers.
_UNSAFE = re.compile(r'[/\\:*?"<>|#%{}\[\]^~`]')
_SPACES = re.compile(r"\s+")


def _allowed(char: str) -> bool:
    # Cc: control characters; Cf: invisible format characters (bidi overrides that disguise an
    # extension, zero-width characters); Cs/Co/Cn: surrogates, private use, unassigned.
    return unicodedata.category(char) not in {"Cc", "Cf", "Cs", "Co", "Cn"}


def sanitise_file_name(name: str, extension: str = "") -> str:
    """A readable, bounded, single-component version of a client's file name.

    Unicode letters are kept (NFC-normalised); control and invisible characters are dropped,
    separators and other unsafe characters become ``_``, leading dots go (no hidden files, no
    ``..``), and the result is cut to ``NAME_MAX_CHARS`` characters and ``NAME_MAX_BYTES`` UTF-8
    bytes keeping its extension. An empty result becomes ``picture`` + ``extension``.
    """
    name = unicodedata.normalize("NFC", (name or "")[:1024])
    name = "".join(char if _allowed(char) else " " for char in name)
    name = _UNSAFE.sub("_", name)
    name = _SPACES.sub(" ", name).strip(" .")
    if not name:
        name = DEFAULT_STEM + extension
    return _truncate(name)


def _truncate(name: str) -> str:
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or len(suffix) > 16:
        stem, suffix = name, ""
    else:
        suffix = "." + suffix
    while stem and (len(stem) + len(suffix) > NAME_MAX_CHARS
                    or len((stem + suffix).encode()) > NAME_MAX_BYTES):
        stem = stem[:-1]
    stem = stem.rstrip(" .")
    return (stem or DEFAULT_STEM) + suffix


def object_key(user_id, image_id, file_name: str) -> str:
    """``<user id>/<image id>/<sanitised name>``."""
    return f"{user_id}/{image_id}/{file_name}"
