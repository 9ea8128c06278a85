"""The HTML report of `sextant compare`, opened in headless Chromium: it renders on its own
(no network, no script), with one box plot and one difference plot per problem and the
performance profile, and a screenshot of it is not blank."""

import shutil
import struct
import subprocess
import uuid
import zlib

import pytest

from conftest import IS_SEXTANT
from test_compare import BRANCH, PROBLEMS, SHIFT, log_suite, sextant

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

pytestmark = [
    pytest.mark.skipif(not IS_SEXTANT, reason="sextant compare is a Sextant command"),
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on PATH (apt-get install chromium)"),
]


def chromium(profile, *args):
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--user-data-dir=" + str(profile), *args],
        capture_output=True, text=True, timeout=120,
    )


def png_colours(path):
    """Distinct colours among a sample of pixels of an 8-bit RGB/RGBA PNG (enough to tell a
    blank page from a drawn one)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, ctype = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    bpp = {2: 3, 6: 4}[ctype]
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        if y % 7 == 0:
            for x in range(0, width, 5):
                colours.add(bytes(line[x * bpp:x * bpp + 3]))
        prev = line
    return colours


def test_report_renders_in_chromium(client, tmp_path):
    exp = "compare-html-" + uuid.uuid4().hex[:8]
    eid = client.create_experiment(exp)
    log_suite(client, eid, "main", "n-1", 0.0, 1_000_000)
    log_suite(client, eid, "faster", "pr-1", -SHIFT, 2_000_000)
    html = tmp_path / "report.html"
    r = sextant("compare", "--experiment", exp, "--no-store", "--bootstrap", "500",
                "--baseline", "tags.sextant.suite = 'n-1'",
                "--candidate", f"tags.`{BRANCH}` = 'faster'",
                "--metric", "cost:min", "--html", str(html))
    assert r.returncode == 0, r.stderr

    dom = chromium(tmp_path / "chromium", "--dump-dom", html.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('class="box"') == len(PROBLEMS)
    assert dom.stdout.count('class="diff"') == len(PROBLEMS)
    assert 'class="profile"' in dom.stdout
    assert "improved" in dom.stdout

    shot = tmp_path / "report.png"
    s = chromium(tmp_path / "chromium", "--screenshot=" + str(shot), "--window-size=1200,1600", html.as_uri())
    assert s.returncode == 0 and shot.exists(), s.stderr[-2000:]
    # Text, two plot colours and the verdict badges: far more than a blank page's one colour.
    assert len(png_colours(shot)) > 20
