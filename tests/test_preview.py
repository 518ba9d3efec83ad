"""Tests for mnistfamily.preview: the labelled grid, its geometry, content and safe saving."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
from PIL import Image

import mnistfamily as mf
from mnistfamily.dataset import Dataset
from mnistfamily.preview import BACKGROUND, CELL_GAP, preview_grid, save_preview

H = W = 28


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Dataset:
    """The embedded sample, loaded once for the module (read-only memory maps)."""
    return mf.load("mnist/sample", split="test", data_dir=tmp_path_factory.mktemp("cache"))


def cell(picture: np.ndarray, label_width: int, row: int, column: int, scale: int) -> np.ndarray:
    """The pixels of one cell of a grid whose label area is ``label_width`` wide."""
    top = CELL_GAP + row * (H * scale + CELL_GAP)
    left = label_width + column * (W * scale + CELL_GAP)
    return picture[top: top + H * scale, left: left + W * scale]


def label_width_of(picture: Image.Image, per_class: int, scale: int) -> int:
    return picture.width - per_class * (W * scale + CELL_GAP)


@pytest.mark.parametrize("per_class,scale", [(8, 2), (3, 1), (5, 3)])
def test_geometry_is_one_row_per_class_and_per_class_columns_after_the_labels(sample, per_class, scale):
    picture = preview_grid(sample, per_class=per_class, scale=scale)
    assert picture.mode == "L"
    assert picture.height == CELL_GAP + len(sample.classes) * (H * scale + CELL_GAP)
    label_width = label_width_of(picture, per_class, scale)
    assert 4 < label_width < 80
    # one more example per row adds exactly one cell and one gap
    wider = preview_grid(sample, per_class=per_class + 1, scale=scale)
    assert wider.width - picture.width == W * scale + CELL_GAP
    assert wider.height == picture.height


def test_first_examples_are_shown_in_order_upscaled_by_nearest_neighbour_and_not_inverted(sample):
    scale = 3
    picture = preview_grid(sample, per_class=4, scale=scale, seed=None)
    pixels = np.asarray(picture)
    label_width = label_width_of(picture, 4, scale)
    for row in range(len(sample.classes)):
        first = np.flatnonzero(sample.labels == row)[:4]
        for column, position in enumerate(first):
            expected = np.kron(sample.images[position], np.ones((scale, scale), dtype=np.uint8))
            np.testing.assert_array_equal(cell(pixels, label_width, row, column, scale), expected)
    # MNIST stores 0 as background: the cells' corners are black, the strokes white
    assert cell(pixels, label_width, 0, 0, scale)[0, 0] == 0
    assert cell(pixels, label_width, 0, 0, scale).max() == 255


def test_class_names_are_drawn_in_the_label_area(sample):
    picture = np.asarray(preview_grid(sample, per_class=2, scale=2))
    label_width = label_width_of(Image.fromarray(picture), 2, 2)
    row_height = H * 2 + CELL_GAP
    for row in range(len(sample.classes)):
        band = picture[CELL_GAP + row * row_height: (row + 1) * row_height, :label_width]
        assert (band > BACKGROUND + 100).any(), f"no text drawn for class row {row}"


def test_seeded_choice_is_reproducible_varies_with_the_seed_and_stays_within_the_class(sample):
    scale = 1
    a = np.asarray(preview_grid(sample, per_class=6, scale=scale, seed=3))
    b = np.asarray(preview_grid(sample, per_class=6, scale=scale, seed=3))
    c = np.asarray(preview_grid(sample, per_class=6, scale=scale, seed=4))
    first = np.asarray(preview_grid(sample, per_class=6, scale=scale, seed=None))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, first)
    label_width = a.shape[1] - 6 * (W + CELL_GAP)
    for row in range(len(sample.classes)):
        members = {image.tobytes(): position for position, image in enumerate(sample.images)
                   if sample.labels[position] == row}
        shown = [members[cell(a, label_width, row, column, scale).tobytes()] for column in range(6)]
        assert shown == sorted(shown)  # a random choice, shown in dataset order


def test_classes_with_fewer_examples_leave_blank_cells(sample):
    two_threes = np.flatnonzero(sample.labels == 3)[:2]
    keep = np.concatenate([np.flatnonzero(~np.isin(sample.labels, [3, 5])), two_threes])
    subset = sample.select(np.sort(keep))  # two 3s, no 5 at all
    scale = 1
    pixels = np.asarray(preview_grid(subset, per_class=4, scale=scale, seed=None))
    assert pixels.shape[0] == CELL_GAP + 10 * (H + CELL_GAP)  # still a row for every class
    label_width = pixels.shape[1] - 4 * (W + CELL_GAP)
    for column in range(4):
        blank_three = column >= 2
        assert (cell(pixels, label_width, 3, column, scale) == BACKGROUND).all() == blank_three
        assert (cell(pixels, label_width, 5, column, scale) == BACKGROUND).all()
        assert cell(pixels, label_width, 4, column, scale).max() == 255


def test_many_classes_long_and_non_latin_names():
    rng = np.random.default_rng(0)
    classes = [str(d) for d in range(10)] + [chr(c) for c in range(65, 91)] + [chr(c) for c in range(97, 123)]
    classes[-1] = "a class name far longer than any label area should be"
    classes[-2] = "\u304a"  # hiragana o: drawn as well as the font can, never an error
    images = (rng.random((300, H, W)) > 0.7).astype(np.uint8) * 255
    labels = rng.integers(0, 61, 300)  # the last class has no example
    picture = preview_grid(Dataset(images, labels, classes=classes), per_class=3, scale=1)
    assert len(classes) == 62
    assert picture.height == CELL_GAP + 62 * (H + CELL_GAP)
    assert label_width_of(picture, 3, 1) < 200  # the long name is shortened
    last_row = np.asarray(picture)[-(H + CELL_GAP):, label_width_of(picture, 3, 1):]
    assert (last_row == BACKGROUND).all()


def test_float_images_from_a_transform_are_shown_in_grey_levels(sample):
    floats = Dataset(np.asarray(sample.images[:20]) / 255.0, sample.labels[:20], classes=sample.classes)
    picture = np.asarray(preview_grid(floats, per_class=1, scale=1, seed=None))
    label_width = picture.shape[1] - (W + CELL_GAP)
    row = int(floats.labels[0])
    np.testing.assert_array_equal(cell(picture, label_width, row, 0, 1), sample.images[0])


@pytest.mark.parametrize("kw", [{"per_class": 0}, {"scale": 0}])
def test_bad_arguments_are_refused(sample, kw):
    with pytest.raises(ValueError, match="at least 1"):
        preview_grid(sample, **kw)


def test_save_preview_writes_a_png_atomically_and_creates_folders(sample, tmp_path):
    out = tmp_path / "previews" / "digits.png"
    returned = save_preview(sample, out, per_class=5, scale=1)
    assert returned == out
    with Image.open(out) as written:
        assert written.format == "PNG"
        np.testing.assert_array_equal(np.asarray(written), np.asarray(preview_grid(sample, per_class=5, scale=1)))
    assert [p.name for p in out.parent.iterdir()] == ["digits.png"]  # no temporary left behind


def test_save_preview_removes_what_a_killed_save_left(sample, tmp_path):
    """Previews are written through safe_write: the area a killed process left beside the picture is
    recognised by its marker and removed by the next save; a user's own file there is kept."""
    import multiprocessing

    from mnistfamily import safe_write

    out = tmp_path / "digits.png"
    child = multiprocessing.get_context("fork").Process(target=lambda: safe_write.TempArea(tmp_path, out.name))
    child.start()
    child.join(30)
    (tmp_path / ".digits.png.1234abcd.part").write_bytes(b"a user's file, whatever its name")
    [left] = safe_write.leftovers(tmp_path, out.name)
    save_preview(sample, out, per_class=2, scale=1)
    assert not left.exists() and safe_write.leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [".digits.png.1234abcd.part", "digits.png"]


def test_save_preview_keeps_the_old_file_when_drawing_fails(sample, tmp_path):
    out = tmp_path / "digits.png"
    save_preview(sample, out, per_class=2, scale=1)
    before = out.read_bytes()
    with pytest.raises(ValueError, match="at least 1"):
        save_preview(sample, out, per_class=0)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["digits.png"]


def test_pillow_is_imported_only_when_a_preview_is_drawn(monkeypatch, sample, capsys):
    import mnistfamily.cli
    import mnistfamily.preview

    monkeypatch.setitem(sys.modules, "PIL", None)  # any `import PIL...` now raises ImportError
    try:
        importlib.reload(mnistfamily.preview)
        importlib.reload(mnistfamily.cli)
        assert mnistfamily.cli.main(["list"]) == 0
        with pytest.raises(ImportError, match="import of PIL halted"):
            mnistfamily.preview.preview_grid(sample)
    finally:
        monkeypatch.undo()
        importlib.reload(mnistfamily.preview)
        importlib.reload(mnistfamily.cli)
    capsys.readouterr()


# --------------------------------------------------------------------------- one-dimensional examples

def test_one_dimensional_examples_are_drawn_as_line_plots():
    from mnistfamily.preview import PLOT_HEIGHT, line_plots

    length, scale = 40, 2
    ramp = np.linspace(-1.0, 1.0, length)  # class 0: rising; class 1: falling
    images = np.stack([ramp, -ramp, ramp, -ramp])
    ds = Dataset(images, np.array([0, 1, 0, 1]), classes=["up", "down"], name="lines")
    picture = preview_grid(ds, per_class=2, scale=scale, seed=None)
    cell_h, cell_w = PLOT_HEIGHT * scale, length * scale
    assert picture.height == CELL_GAP + 2 * (cell_h + CELL_GAP)
    label_width = picture.width - 2 * (cell_w + CELL_GAP)
    pixels = np.asarray(picture)
    for row, rising in ((0, True), (1, False)):
        top = CELL_GAP + row * (cell_h + CELL_GAP)
        plot = pixels[top: top + cell_h, label_width: label_width + cell_w]
        np.testing.assert_array_equal(plot, line_plots(images[row: row + 1])[0].repeat(scale, 0).repeat(scale, 1))
        first, last = (np.flatnonzero(plot[:, x] == 255) for x in (0, cell_w - 1))
        # a rising line starts at the bottom and ends at the top; a falling one the other way
        assert bool(first.min() > last.max()) is rising and bool(first.max() < last.min()) is not rising


def test_line_plots_have_no_gaps_share_one_scale_and_survive_nan():
    from mnistfamily.preview import ZERO_LINE, line_plots

    plots = line_plots(np.array([[0.0, 10.0, 0.0, np.nan], [0.0, 5.0, 0.0, 0.0]]), height=11)
    lit = plots == 255
    assert lit.any(axis=1).all()  # every column of every plot has its point
    assert lit[0, :, 0].sum() == 11  # the jump from 0 to 10 is one unbroken run, the full height
    assert lit[1, :, 0].sum() == 6  # the same scale: 5 reaches half way
    assert lit[0, 10, 3]  # NaN drawn as 0 (the bottom row)
    flat = line_plots(np.array([[-1.0, -1.0, 1.0, 1.0]]), height=5)[0]
    assert flat[2, 0] == flat[2, 3] == ZERO_LINE and flat[2, 1] == 255  # the zero line, behind the line


def test_the_cli_previews_mnist_1d(capsys, tmp_path):
    from mnistfamily.cli import main

    out = tmp_path / "mnist1d.png"
    assert main(["preview", "mnist1d/generated", "--split", "test", "--out", str(out),
                 "--data-dir", str(tmp_path / "cache"), "--per-class", "3"]) == 0
    picture = Image.open(out)
    assert picture.mode == "L" and picture.height == CELL_GAP + 10 * (28 * 2 + CELL_GAP)
    capsys.readouterr()


def test_examples_with_nothing_to_show_are_refused():
    ds = Dataset(np.zeros((3, 0), np.uint8), np.zeros(3, np.int64), classes=["a"], name="odd")
    with pytest.raises(ValueError, match=r"odd: examples of shape \(0,\) have nothing to show"):
        preview_grid(ds)
    with pytest.raises(ValueError, match="a volume is shown as slices or max, not 'mip'"):
        preview_grid(Dataset(np.zeros((2, 3, 3, 3), np.uint8), np.zeros(2, np.int64), classes=["a"],
                             example="volume"), volume="mip")


# --------------------------------------------------------------------------- colour, volumes, recordings

def _cell(picture, row: int, column: int, height: int, width: int, per_class: int) -> np.ndarray:
    """The pixels of one cell of a grid drawn at scale 1."""
    pixels = np.asarray(picture)
    left = picture.width - per_class * (width + CELL_GAP) + column * (width + CELL_GAP)
    top = CELL_GAP + row * (height + CELL_GAP)
    return pixels[top:top + height, left:left + width]


def test_colour_images_are_shown_in_colour():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (4, 6, 5, 3), dtype=np.uint8)
    picture = preview_grid(Dataset(rgb, np.array([0, 1, 0, 1]), classes=["a", "b"]), per_class=2, scale=1,
                           seed=None)
    assert picture.mode == "RGB"
    np.testing.assert_array_equal(_cell(picture, 0, 1, 6, 5, 2), rgb[2])
    np.testing.assert_array_equal(_cell(picture, 1, 0, 6, 5, 2), rgb[1])
    two = rng.integers(0, 256, (2, 6, 5, 2), dtype=np.uint8)  # ColoredMNIST's two channels: red and green
    cell = _cell(preview_grid(Dataset(two, np.array([0, 0]), classes=["a"]), per_class=1, scale=1), 0, 0, 6, 5, 1)
    np.testing.assert_array_equal(cell[..., :2], two[0]) and np.testing.assert_array_equal(cell[..., 2], 0)


def test_volumes_are_shown_as_three_orthogonal_middle_slices_or_their_maximum():
    from mnistfamily.cells import SLICE_GAP

    rng = np.random.default_rng(1)
    volumes = rng.integers(0, 256, (2, 4, 6, 5), dtype=np.uint8)  # depth 4, height 6, width 5
    ds = Dataset(volumes, np.array([0, 0]), classes=["a"], example="volume")
    picture = preview_grid(ds, per_class=1, scale=1, seed=None)
    width = 5 + 1 + 5 + 1 + 6
    cell = _cell(picture, 0, 0, 6, width, 1)
    assert picture.height == CELL_GAP + 6 + CELL_GAP
    np.testing.assert_array_equal(cell[:, :5], volumes[0, 2])  # axial: the middle depth
    np.testing.assert_array_equal(cell[:4, 6:11], volumes[0, :, 3, :])  # coronal: the middle row
    np.testing.assert_array_equal(cell[:4, 12:18], volumes[0, :, :, 2])  # sagittal: the middle column
    assert (cell[:, 5] == SLICE_GAP).all() and (cell[4:, 6:11] == 0).all()
    projected = preview_grid(ds, per_class=1, scale=1, seed=None, volume="max")
    np.testing.assert_array_equal(_cell(projected, 0, 0, 6, 5, 1), volumes[0].max(axis=0))


def test_recordings_are_waveforms_on_one_time_and_amplitude_scale():
    from mnistfamily.cells import PLOT_HEIGHT, WAVE_WIDTH
    from mnistfamily.examples import Signals

    loud = np.sin(2 * np.pi * 440 * np.arange(48_000) / 48_000).astype(np.float32)  # one second of A4
    quiet = (loud[:24_000] * 0.1).astype(np.float32)
    ds = Dataset(Signals.from_arrays([loud, quiet]), np.array([0, 0]), classes=["a"], sample_rate=48_000)
    picture = preview_grid(ds, per_class=2, scale=1, seed=None)
    assert picture.mode == "L" and picture.height == CELL_GAP + PLOT_HEIGHT + CELL_GAP
    first, second = (_cell(picture, 0, c, PLOT_HEIGHT, WAVE_WIDTH, 2) == 255 for c in (0, 1))
    assert first.any(axis=0).all() and first.sum(axis=0).min() > PLOT_HEIGHT // 2  # loud: a tall band throughout
    assert second[:, :WAVE_WIDTH // 2 - 1].any(axis=0).all()  # the short one: half the width ...
    assert not second[:, WAVE_WIDTH // 2 + 1:].any()  # ... then nothing
    assert second.sum(axis=0).max() < first.sum(axis=0).min()  # and a tenth of the amplitude
    long = Dataset(np.tile(loud[:1000], (2, 1)), np.array([0, 0]), classes=["a"])  # fixed, long: a waveform too
    assert preview_grid(long, per_class=1, scale=1).width == preview_grid(ds, per_class=1, scale=1).width
