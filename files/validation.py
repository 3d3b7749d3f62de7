"""What an uploaded picture really is: magic bytes, then Pillow decoding the header."""
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError


@dataclass(frozen=True)
class ImageKind:
    format: str  # Pillow's name
    content_type: str
    extension: str


KINDS = {
    "PNG": ImageKind("PNG", "image/png", ".png"),
    "JPEG": ImageKind("JPEG", "image/jpeg", ".jpg"),
    "GIF": ImageKind("GIF", "image/gif", ".gif"),
    "WEBP": ImageKind("WEBP", "image/webp", ".webp"),
}


class NotAnImage(ValueError):
    pass


def sniff(head: bytes) -> ImageKind | None:
    """The kind the first bytes announce, if any."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return KINDS["PNG"]
    if head.startswith(b"\xff\xd8\xff"):
        return KINDS["JPEG"]
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return KINDS["GIF"]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return KINDS["WEBP"]
    return None


def identify(file) -> ImageKind:
    """Check ``file`` is a PNG, JPEG, GIF or WebP image; raise :class:`NotAnImage` otherwise.

    The magic bytes must announce one of the four formats, and Pillow must decode the header as
    that same format with sane dimensions (decompression bombs are refused). Only the header is
    read: the pixel data is not decoded, so this costs the same for any file size.
    """
    file.seek(0)
    kind = sniff(file.read(16))
    if kind is None:
        raise NotAnImage("The file is not a PNG, JPEG, GIF or WebP image.")
    file.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file, formats=[kind.format]) as image:
                width, height = image.size
                decoded = image.format
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning,
            OSError, SyntaxError, ValueError, EOFError) as error:
        raise NotAnImage(f"The file claims to be {kind.format} but does not decode as one.") from error
    finally:
        file.seek(0)
    if decoded != kind.format or width < 1 or height < 1:
        raise NotAnImage(f"The file claims to be {kind.format} but does not decode as one.")
    return kind
