"""Pages opened in a real headless Chromium (Debian's package, installed by ./dev test), and
looked at: a screenshot and the pixels of a colour."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any


def screenshot(page: Path, folder: Path) -> Any:
    """`page` as Chromium draws it in a 1000x900 window, as a PIL image."""
    from PIL import Image

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Chromium is missing: `./dev test` installs Debian's chromium package"
    shot = folder / f"{page.stem}.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={folder / 'chromium-profile'}",
            "--hide-scrollbars",
            "--window-size=1000,900",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    image = Image.open(shot)
    assert image.size == (1000, 900)
    return image


def pixels_near(image: Any, colour: str, tolerance: int = 40) -> list[tuple[int, int]]:
    target = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    rgb = image.convert("RGB")
    width = rgb.size[0]
    data = rgb.tobytes()
    return [
        (index % width, index // width)
        for index in range(len(data) // 3)
        if all(abs(data[3 * index + c] - target[c]) <= tolerance for c in range(3))
    ]
