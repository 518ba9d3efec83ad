"""print(ds), ds.show() and the notebook HTML; the HTML rendered by a real browser shows the grid."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.adapters import AdapterError
from mnistfamily.dataset import Dataset

SAMPLE = "mnist/sample"


@pytest.fixture
def sample():
    return mf.load(SAMPLE, "test")


def test_print_is_multi_line_like_dataset_info(sample):
    text = str(sample)
    lines = text.splitlines()
    assert lines[0] == "mnist/sample [test]: MNIST sample (embedded)"
    assert "  examples     2,000" in lines
    assert any(line.startswith("  images       uint8 (2000, 28, 28)") and "memory-mapped" in line for line in lines)
    assert any(line.startswith("  metadata     class, hsf_series, writer_id") for line in lines)
    assert repr(sample).startswith("Dataset(name='mnist/sample'")  # repr stays one line


def test_show_draws_n_examples_per_class(sample):
    picture = sample.show(n=4, classes=["3", 5], scale=1)
    assert picture.mode == "L" and picture.height == 2 + 2 * (28 + 2)
    assert sample.show(n=3).height == 2 + 10 * (28 * 2 + 2)
    with pytest.raises(AdapterError, match="no class 'x'"):
        sample.show(classes=["x"])
    with pytest.raises(AdapterError, match="n \\(examples per class\\) must be a positive int"):
        sample.show(n=0)


def test_show_handles_colour_volumes_and_signals():
    rng = np.random.default_rng(0)
    rgb = Dataset(rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8), np.arange(6) % 2, classes=["a", "b"])
    picture = rgb.show(n=3, scale=1)
    assert picture.mode == "RGB"
    cells = np.asarray(picture)
    # the first example of class "a" (row 0) is in the first cell, in colour
    left = picture.width - 3 * (8 + 2)
    np.testing.assert_array_equal(cells[2:10, left:left + 8], rgb.images[0])
    volume = Dataset(rng.integers(0, 256, (4, 5, 8, 8), dtype=np.uint8), np.arange(4) % 2, classes=["a", "b"])
    assert volume.show(n=2, scale=1).height == 2 + 2 * (8 + 2)
    signal = Dataset(np.sin(np.linspace(0, 20, 4 * 40)).reshape(4, 40), np.arange(4) % 2, classes=["a", "b"])
    plotted = np.asarray(signal.show(n=2, scale=1))
    assert plotted.shape[0] == 2 + 2 * (28 + 2) and (plotted == 255).any()  # lines drawn white
    multi = Dataset(np.zeros((2, 4, 4), np.uint8), np.eye(2, dtype=np.int64), classes=["a", "b"])
    with pytest.raises(AdapterError, match="multi-label"):
        multi.show()


def test_the_html_escapes_every_name():
    hostile = Dataset(np.zeros((4, 28, 28), np.uint8), np.array([0, 1, 0, 1]),
                      classes=["<script>alert(1)</script>", "a&b"], name="<img src=x onerror=alert(1)>", split="test",
                      metadata={"<u>col</u>": np.arange(4)})
    text = hostile._repr_html_()
    assert "<script>" not in text and "<img src=x" not in text and "<u>" not in text
    assert "&lt;script&gt;" in text and "a&amp;b" in text and "&lt;u&gt;col" in text


def test_the_html_of_the_sample(sample):
    text = sample._repr_html_()
    assert len(text) < 12_000  # a summary table and a 4-bit PNG of 10 rows of 4 digits
    assert "2,000" in text and "memory-mapped" in text and "data:image/png;base64," in text
    info = mf.info("qmnist")._repr_html_()
    assert "test50k (50,000)" in info and "writer_id" in info and "<details>" in info


def test_dataset_info_show_loads_a_split(sample):
    picture = mf.info(SAMPLE).show(n=2)
    assert picture.height == sample.show(n=2).height


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.slow
def test_the_html_renders_in_headless_chromium_with_the_grid(sample, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium): the HTML is not rendered")
    from PIL import Image

    html = sample._repr_html_()
    page = tmp_path / "page.html"
    page.write_text(f"<!doctype html><html><body style='margin:8px;background:#fff'>{html}</body></html>")
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--force-device-scale-factor=1",
                    "--window-size=900,900", f"--screenshot={shot}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    screen = np.asarray(Image.open(shot).convert("L"))
    # the grid as the page embeds it, shown at twice its size, pixel for pixel
    encoded = re.search(r"src='data:image/png;base64,([^']+)'", html).group(1)
    grid = np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))).convert("L"))
    expected = grid.repeat(2, axis=0).repeat(2, axis=1)
    row = expected[len(expected) // 2].tobytes()  # a row through the middle of the digits
    found = []
    for y in range(screen.shape[0] - expected.shape[0] + 1):
        x = screen[y + len(expected) // 2].tobytes().find(row)
        if x >= 0 and np.array_equal(screen[y:y + expected.shape[0], x:x + expected.shape[1]], expected):
            found.append((y, x))
    assert len(found) == 1, "the grid of digits is not on the screenshot, pixel for pixel"
    y, x = found[0]
    assert y > 100  # below the summary table
