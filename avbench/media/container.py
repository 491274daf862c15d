"""Opening media files with PyAV, with every failure turned into a :class:`MediaError` that names the file."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import av

from avbench.media.errors import MediaError


def check_file(path: Path) -> None:
    """Raise MediaError for a missing, non-regular or zero-byte file."""
    if not path.exists():
        raise MediaError(path, "file not found")
    if not path.is_file():
        raise MediaError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise MediaError(path, "zero-byte file")


#: FFmpeg demuxers that accept arbitrary text (FFmpeg's "tty" renders a ``.txt``/``.ans`` file as a video of its
#: characters): no media file a data set holds is one of these, so they are refused as "not a media file".
TEXT_DEMUXERS = frozenset({"tty"})


def open_container(path: Path, options: dict[str, str] | None = None) -> av.container.InputContainer:
    """``av.open(path)`` for reading (``options``: FFmpeg format options); raises MediaError with a specific reason
    when FFmpeg cannot open it."""
    check_file(path)
    try:
        container = av.open(str(path), mode="r", options=options)
    except av.error.InvalidDataError:
        raise MediaError(path, "not a media file, or a damaged container (FFmpeg: invalid data)") from None
    except av.error.EOFError:
        raise MediaError(path, "truncated container (FFmpeg: end of file while reading the header)") from None
    except PermissionError:
        raise MediaError(path, "permission denied") from None
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(path, f"cannot open container: {exc}") from None
    if container.format.name in TEXT_DEMUXERS:
        container.close()
        raise MediaError(path, f"not a media file (a text file: FFmpeg's {container.format.name!r} demuxer "
                               "would render its characters as video)")
    return container


def declared_seconds(container: av.container.InputContainer, stream: av.stream.Stream) -> float | None:
    """Duration (s) the header declares for ``stream`` (else the container's), or None when neither says."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def demux_tolerant(container: av.container.InputContainer, stream: av.stream.Stream,
                   notes: list[str]) -> Iterator[av.Packet]:
    """The non-empty packets of ``stream``. Where the demuxer gives up mid-file (a truncated or damaged
    container) the iteration ends there and a note says after how many packets, instead of raising."""
    demux = container.demux(stream)
    n = 0
    while True:
        try:
            packet = next(demux)
        except StopIteration:
            return
        except av.error.FFmpegError as exc:
            notes.append(f"demux error after {n} packets, rest of file dropped: {exc}")
            return
        if packet.size:
            n += 1
            yield packet
