"""Test video made with Debian's ``ffmpeg`` (installed by ``.ci/run`` like Chromium):
an MP4 recording, and an HLS stream whose ``EXT-X-PROGRAM-DATE-TIME`` the test chooses
(so the picture's wall clock can run a known time behind the server's).

Both are H.264 in small frames, a keyframe every second (seeking lands where asked),
with ffmpeg's ``testsrc`` picture. Served from ``LIVECART_MEDIA_DIR`` at ``/media/``.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

from tests.pages_helpers import unavailable

FPS = 25


def require_ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        unavailable("no ffmpeg found (apt-get install ffmpeg): video page tests skipped")
    assert path is not None
    return path


def _ffmpeg(*args: str) -> None:
    subprocess.run([require_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", *args],
                   check=True, timeout=120)  # fmt: skip


def _source(seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc=size=320x180:rate={FPS}:duration={seconds}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-g", str(FPS), "-keyint_min", str(FPS), "-sc_threshold", "0"]  # fmt: skip


def make_mp4(path: Path, seconds: float = 30) -> Path:
    """A ``seconds`` long MP4 (moov first: it plays before it is all downloaded)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _ffmpeg(*_source(seconds), "-movflags", "+faststart", str(path))
    return path


def make_hls(directory: Path, seconds: float = 60, segment_s: int = 1) -> list[float]:
    """HLS segments ``seg_00000.ts``… of ``segment_s`` seconds in ``directory``; returns
    their durations. ``write_playlist`` then writes the playlist with the clock wanted."""
    directory.mkdir(parents=True, exist_ok=True)
    _ffmpeg(*_source(seconds), "-f", "hls", "-hls_time", str(segment_s),
            "-hls_list_size", "0", "-hls_playlist_type", "vod",
            "-hls_segment_filename", str(directory / "seg_%05d.ts"),
            str(directory / "ffmpeg.m3u8"))  # fmt: skip
    durations: list[float] = []
    for line in (directory / "ffmpeg.m3u8").read_text().splitlines():
        if line.startswith("#EXTINF:"):
            durations.append(float(line.removeprefix("#EXTINF:").split(",")[0]))
    return durations


def write_playlist(directory: Path, durations: list[float], starts_at: datetime,
                   name: str = "index.m3u8") -> Path:  # fmt: skip
    """A VOD playlist over the segments whose first picture was taken at ``starts_at``
    (UTC, aware): every segment carries its ``EXT-X-PROGRAM-DATE-TIME``."""
    target = max(1, round(max(durations)))
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{target}",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD"]  # fmt: skip
    at = starts_at
    for i, duration in enumerate(durations):
        stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        lines += [f"#EXT-X-PROGRAM-DATE-TIME:{stamp}", f"#EXTINF:{duration:.6f},",
                  f"seg_{i:05d}.ts"]  # fmt: skip
        at += timedelta(seconds=duration)
    lines.append("#EXT-X-ENDLIST")
    path = directory / name
    path.write_text("\n".join(lines) + "\n")
    return path
