"""The one error type of the media layer: a file that cannot be turned into samples, and why."""
from __future__ import annotations

from os import PathLike


class MediaError(ValueError):
    """A media file could not be decoded.

    ``path``: the file (as given); ``reason``: a short, specific cause ("zero-byte file",
    "no audio stream (video-only file)", ...) suitable for a skip record. ``str(err)`` is ``"<path>: <reason>"``.
    """

    def __init__(self, path: str | PathLike[str], reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # keep (path, reason) when pickled across DataLoader worker processes
        return (type(self), (self.path, self.reason))
