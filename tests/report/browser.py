"""Checks of a rendered report: every figure a real plot, and (in headless Chromium) every image
loaded and no table pushing the page wider than the window."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from tests.report.page import parse

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WINDOW = (1024, 4000)   # the width the issue found tables overflowing at
# Appended to a copy of the page: after load, list the images the browser could not decode and
# whether the page is wider than the window, in an element --dump-dom prints.
PROBE = """<script>
window.addEventListener("load", () => {
  const broken = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))
    .map(i => i.alt || i.getAttribute("src").slice(0, 80));
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({images: document.images.length, broken: broken,
    overflow: document.documentElement.scrollWidth > window.innerWidth});
  document.body.appendChild(out);
});
</script>"""
MIN_COLOURS = 50          # a rendered plot has many (antialiasing alone gives dozens)
MIN_COLOURED_PIXELS = 300  # data drawn in colour; axes, ticks and text are pure grey
MIN_CHROMA = 20            # max - min channel of a coloured pixel (greyed data is blue-grey)


def figure_problem(png: bytes) -> str | None:
    """Why ``png`` is not a real figure (unreadable, tiny, blank, or axes without data), or
    None. Every report figure draws its data in colour, so a figure whose pixels are all grey
    shows axes and text only."""
    try:
        picture = Image.open(io.BytesIO(png))
        picture.load()
    except OSError as exc:
        return f"not a readable image ({exc})"
    if picture.format != "PNG":
        return f"a {picture.format}, not a PNG"
    if picture.width < 600 or picture.height < 200:
        return f"too small ({picture.width}x{picture.height})"
    rgb = picture.convert("RGB")
    colours = len(rgb.getcolors(maxcolors=1 << 16) or range(1 << 16))
    if colours <= MIN_COLOURS:
        return f"blank ({colours} distinct colours)"
    pixels = np.asarray(rgb, dtype=np.int16)
    coloured = int(((pixels.max(axis=2) - pixels.min(axis=2)) > MIN_CHROMA).sum())
    if coloured < MIN_COLOURED_PIXELS:
        return f"empty plot ({coloured} coloured pixels: axes and text only)"
    return None


def figure_problems(page: Path) -> list[str]:
    """``alt: problem`` of each image of the page that is not a real figure (embedded or a
    file next to the page)."""
    problems = []
    for image in parse(page.read_text()).images:
        source = image.get("src", "")
        if source.startswith("data:"):
            png = base64.b64decode(source.split(",", 1)[1])
        elif (page.parent / source).is_file():
            png = (page.parent / source).read_bytes()
        else:
            problems.append(f"{image.get('alt')}: {source} not found")
            continue
        if (problem := figure_problem(png)) is not None:
            problems.append(f"{image.get('alt')}: {problem}")
    return problems


def browser_problems(page: Path, scratch: Path) -> list[str]:
    """Images Chromium could not show, and a page wider than the window, after loading a probed
    copy of ``page`` (written into ``scratch``, which must hold whatever the page links to)."""
    probe = scratch / f"{page.stem}_probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
         f"--window-size={WINDOW[0]},{WINDOW[1]}", "--dump-dom", probe.as_uri()],
        check=True, capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    if found is None:
        return ["the probe did not run (page failed to load)"]
    report = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    problems = [f"{name}: not loaded" for name in report["broken"]]
    if report["images"] == 0:
        problems.append("no images")
    if report["overflow"]:
        problems.append(f"page wider than a {WINDOW[0]} px window")
    return problems
