"""What kind of image a file holds, from its first bytes.

An uploaded photo is served back to browsers with the type stored beside it: the type is
taken from the file's signature, not from what the uploading client declared, so a page
or a script uploaded as "image/png" is refused instead of stored.
"""

from __future__ import annotations

IMAGE_NAMES = "JPEG, PNG, WebP or GIF"


def image_type(content: bytes) -> str | None:
    """The media type of a JPEG, PNG, WebP or GIF file; None for anything else."""
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(content) >= 12 and content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None
