"""Open a page in headless Chromium and check what a person would see: every Chinese
character has a glyph, every chart draws data."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


#: Run in the page by headless Chromium: (1) every CJK character of the page (and any of
#: the supplementary private use area, which no font has) drawn in its
#: element's font must differ from the "tofu" Chromium draws for a character no font has
#: (U+0378, unassigned) and from nothing at all; U+0379 (also unassigned) must be
#: flagged, or the check itself is broken. (2) every chart must draw data: at least one
#: element with an id starting gm-data, with a non-empty box.
PROBE = r"""<script>
(() => {
  const canvas = document.createElement("canvas");
  canvas.width = 48; canvas.height = 48;
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  const draw = (ch, family) => {
    ctx.clearRect(0, 0, 48, 48);
    ctx.font = "32px " + family;
    ctx.fillStyle = "#000";
    ctx.fillText(ch, 4, 38);
    return ctx.getImageData(0, 0, 48, 48).data.join(",");
  };
  const chars = new Map();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (["SCRIPT", "STYLE"].includes(node.parentElement.tagName)) continue;
    const family = getComputedStyle(node.parentElement).fontFamily;
    for (const ch of node.textContent.match(/[\u3400-\u9fff\u{F0000}-\u{FFFFD}]/gu) || []) {
      if (!chars.has(family)) chars.set(family, new Set());
      chars.get(family).add(ch);
    }
  }
  const missing = [];
  let checked = 0, probe = false;
  for (const [family, set] of chars) {
    const tofu = draw("\u0378", family), blank = draw(" ", family);
    probe = probe || draw("\u0379", family) === tofu;
    for (const ch of set) {
      checked += 1;
      const bitmap = draw(ch, family);
      if (bitmap === tofu || bitmap === blank) missing.push(ch);
    }
  }
  const charts = [...document.querySelectorAll("svg")].map((svg) => {
    const box = svg.getBoundingClientRect();
    const data = [...svg.querySelectorAll('[id^="gm-data"]')].filter((el) => {
      const b = el.getBBox();
      return b.width > 0 || b.height > 0;
    });
    return {data: data.length, width: box.width, height: box.height};
  });
  document.documentElement.setAttribute("data-check", JSON.stringify(
    {checked, missing: missing.join(""), probe, charts}));
})();
</script>"""


def browser_check(page: Path, tmp_path: Path) -> dict[str, Any]:
    """Open ``page`` in headless Chromium with :data:`PROBE`; what the probe found."""
    assert CHROMIUM is not None, "chromium is not installed: scripts/setup.sh installs it"
    tmp_path.mkdir(parents=True, exist_ok=True)
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text("utf-8").replace("</body>", PROBE + "</body>"), "utf-8")
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
         "--v=0", "--window-size=1400,1000", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    found = re.search(r'<html[^>]*data-check="([^"]*)"', done.stdout)
    assert found, "the probe did not run:\n" + done.stdout[:2000]
    result: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    result["dom"] = done.stdout
    return result


def assert_readable(result: dict[str, Any], charts: int) -> None:
    assert result["probe"], "the glyph check cannot tell a missing glyph: the check is broken"
    assert result["checked"] > 10, result["checked"]
    assert not result["missing"], (
        f"no glyph for {result['missing']!r}: install a CJK font (scripts/setup.sh)"
    )
    shown = result["charts"]
    assert len(shown) >= charts, shown
    empty = [i for i, c in enumerate(shown) if c["data"] == 0 or c["width"] < 50]
    assert not empty, f"charts {empty} draw no data: {shown}"
