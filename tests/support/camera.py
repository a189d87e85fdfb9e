"""A fake phone camera for Chromium: a Y4M video of a picture, which the browser plays as its webcam
(``--use-file-for-fake-video-capture``), so a page's real camera path reads a real printed poster."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Playwright
from playwright.sync_api import Error as PlaywrightError

from support.postgres import in_ci

__all__ = ["CAMERA_FLAGS", "camera_flags", "launch_chromium", "write_y4m"]

CAMERA_FLAGS = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream")


def write_y4m(
    picture_png: bytes, path: Path, *, width: int = 720, height: int = 1280, frames: int = 3
) -> Path:
    """``picture_png`` centred on a grey frame of ``width`` x ``height`` (a phone held upright),
    as a YUV 4:2:0 Y4M video of ``frames`` identical frames at 10 per second."""
    with Image.open(io.BytesIO(picture_png)) as picture:
        shown = picture.convert("RGB")
        shown.thumbnail((width - 40, height - 40))
    frame = Image.new("RGB", (width, height), (128, 128, 128))
    frame.paste(shown, ((width - shown.width) // 2, (height - shown.height) // 2))
    y, cb, cr = (np.asarray(plane, dtype=np.uint8) for plane in frame.convert("YCbCr").split())

    # 4:2:0: each chroma sample is the mean of a 2 x 2 block (JPEG's full-range YCbCr, "C420jpeg").
    def halve(plane: np.ndarray) -> np.ndarray:
        blocks = plane.reshape(height // 2, 2, width // 2, 2).astype(np.uint16)
        return (blocks.mean(axis=(1, 3)) + 0.5).astype(np.uint8)

    payload = y.tobytes() + halve(cb).tobytes() + halve(cr).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for _ in range(frames):
            out.write(b"FRAME\n")
            out.write(payload)
    return path


def camera_flags(video: Path) -> list[str]:
    """Chromium's arguments for a camera that shows ``video`` and needs no permission prompt."""
    return [*CAMERA_FLAGS, f"--use-file-for-fake-video-capture={video}"]


def launch_chromium(playwright: Playwright, args: list[str] | None = None) -> Browser:
    """Headless Chromium (Debian's when present) with ``args`` (e.g. a fake camera); without one the
    test skips, except in CI, where it fails."""
    executable = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    try:
        return playwright.chromium.launch(executable_path=executable, headless=True, args=args or [])
    except PlaywrightError as exc:
        if in_ci():
            pytest.fail(f"no Chromium for Playwright: {exc}", pytrace=False)
        pytest.skip(f"no Chromium for Playwright: {exc}")
