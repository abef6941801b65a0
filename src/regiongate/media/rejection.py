"""How a worker says "this media is refused", and how that becomes the client's ``400 invalid_media``.

Workers may run in other processes, so they raise :class:`MediaRejected`, a plain exception that pickles by its
arguments alone; the pipeline, which knows which content part it was, turns it into :class:`MediaRefused`.
"""

from __future__ import annotations

import time

from regiongate.errors import InvalidMedia


class MediaRejected(Exception):
    """Raised in a worker. ``reason`` is stable and machine-readable; ``message`` is safe to show the client."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason, message)
        self.reason = reason
        self.message = message


class MediaRefused(InvalidMedia):
    """A media part failed validation or normalization. ``param`` names the part: ``messages[0].content[2]``."""

    def __init__(self, reason: str, message: str, *, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.reason = reason


def refused(rejection: MediaRejected, param: str) -> MediaRefused:
    return MediaRefused(rejection.reason, rejection.message, param=param)


class Deadline:
    """A wall-clock budget checked between units of work (frames, packets) in a worker."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self._end:
            raise MediaRejected("too_slow", "the media took too long to process")
