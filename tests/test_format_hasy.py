"""HASYv2's reader: the miniature round trip in every member order, every hostile archive, memory, the real symbols.csv."""

from __future__ import annotations

import bz2
import contextlib
import doctest
import io
import tarfile
import tracemalloc

import numpy as np
import pytest

from mnistfamily.errors import FormatError
from mnistfamily.formats import hasy
from mnistfamily.formats.hasy import FOLD_SPLITS, parse_symbols, read_hasy
from mnistfamily.formats.sink import MemorySink
from mnistfamily.testing import mini_hasy
from mnistfamily.testing.mini_hasy import hasy_archive, hasy_members, tar_bytes
from mnistfamily.testing.mini_png_tar import folder, regular, special, symlink


def _read(data: bytes) -> tuple[hasy.HasyResult, MemorySink]:
    sink = MemorySink()
    return read_hasy(io.BytesIO(data), sink), sink


def _check(sink: MemorySink, result: hasy.HasyResult, expected: dict) -> None:
    for key in ("images", "labels", "symbol_id", "writer_id", "index"):
        assert sink.arrays[key].dtype == expected[key].dtype, key
        np.testing.assert_array_equal(sink.arrays[key], expected[key], err_msg=key)
    for split in FOLD_SPLITS:
        np.testing.assert_array_equal(sink.arrays[split], expected["folds"][split], err_msg=split)
        assert result.splits[split] == len(expected["folds"][split])
    assert result.classes == expected["classes"]
    assert result.class_symbol_ids == expected["class_symbol_ids"]
    assert result.num_examples == len(expected["labels"])


@contextlib.contextmanager
def _traced():
    """``peak()``: the heap's peak (tracemalloc) inside the block; tracing stops whatever happens."""
    tracemalloc.start()
    found = []
    try:
        yield lambda: found[0]
    finally:
        found.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


def _archive(members) -> bytes:
    return bz2.compress(tar_bytes(members))


def _replace(members, name: str, data: bytes | None = None, *, drop: bool = False):
    out = []
    for info, payload in members:
        if info.name == name:
            if drop:
                continue
            out.append(regular(name, data))  # type: ignore[arg-type]
        else:
            out.append((info, payload))
    return out


# ------------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("order, passes", [("texts-first", 1), ("pngs-first", 2), ("labels-in-the-middle", 2)])
@pytest.mark.parametrize("compress", [True, False])
def test_the_miniature_reads_back_exactly_in_any_member_order(order, passes, compress):
    data, expected = hasy_archive(seed=3, count=50, order=order, compress=compress)
    result, sink = _read(data)
    _check(sink, result, expected)
    assert sink.report["archive_passes"] == passes
    assert sink.report["png_modes"] == {"L": 25, "RGB": 25}
    assert sink.report["skipped_other_files"] == 3  # README.txt, hasy_tools.py, verification-task/train.csv
    assert sink.report["skipped_folders"] == 13


def test_a_path_reads_like_a_stream_and_the_cache_writer_is_a_sink(tmp_path):
    from mnistfamily.prepare.cache import EntryWriter

    data, expected = hasy_archive(seed=5, count=24, order="pngs-first")
    path = tmp_path / "HASYv2.tar.bz2"
    path.write_bytes(data)
    with EntryWriter(tmp_path / "entry") as writer:
        result = read_hasy(path, writer)
        writer.commit({})
    arrays = {name: np.load(tmp_path / "entry" / f"{name}.npy", allow_pickle=False)
              for name in ("images", "labels", "symbol_id", "writer_id", "index", *FOLD_SPLITS)}
    sink = MemorySink()
    sink.arrays = arrays
    _check(sink, result, expected)


def test_module_examples_run():
    for module in (hasy, mini_hasy):
        assert doctest.testmod(module).failed == 0


# ------------------------------------------------------------------------------------------ hostile archives


def test_names_read_from_csvs_never_become_paths_and_traversal_rows_are_refused():
    members, _ = hasy_members(count=12)
    header = b"path,symbol_id,latex,user_id\n"
    for bad in (b"../../../../etc/passwd", b"/etc/passwd.png", b"../../hasy-data/../../x/v2-00000.png",
                b"../../hasy-data/v2-1.png", b"hasy-data/v2-00000.png"):  # no ../../ in a fold
        hostile = _replace(members, "classification-task/fold-4/test.csv", header + bad + b",31,A,1\n")
        with pytest.raises(FormatError, match=r"fold-4/test.csv: line 2 has path .*expected "
                                              r"\.\./\.\./hasy-data/v2-NNNNN\.png"):
            _read(_archive(hostile))
    hostile = _replace(members, "hasy-data-labels.csv", header + b"../hasy-data/v2-00000.png,31,A,1\n")
    with pytest.raises(FormatError, match=r"hasy-data-labels.csv: line 2 has path '\.\./hasy-data"):
        _read(_archive(hostile))


def test_links_devices_and_unsafe_member_names_are_skipped_and_counted():
    png = mini_hasy._png(np.zeros((32, 32), np.uint8), "L")
    extra = [regular("../hasy-data/v2-00001.png", png), regular("/hasy-data/v2-00002.png", png),
             symlink("hasy-data/v2-00003.png", "/etc/passwd"), special("hasy-data/v2-00004.png"),
             symlink("hasy-data/v2-00005.png", "hasy-data/v2-00000.png", hard=True),
             regular("hasy-data/v2-99999.png", png)]  # a PNG no row lists
    data, expected = hasy_archive(count=12, extra=extra)
    result, sink = _read(data)
    _check(sink, result, expected)  # the hostile members changed nothing
    assert sink.report["skipped_links_devices_and_unsafe_names"] == 5
    assert sink.report["skipped_unlisted_pngs"] == 1


@pytest.mark.parametrize("order", ["texts-first", "pngs-first"])
def test_a_png_member_twice_is_refused(order):
    members, _ = hasy_members(count=12, order=order)
    twice = next(m for m in members if m[0].name.endswith(".png"))
    with pytest.raises(FormatError, match=r"member hasy-data/v2-\d{5}\.png appears twice"):
        _read(_archive(members + [twice]))


def test_a_text_member_twice_is_refused():
    members, _ = hasy_members(count=12)
    twice = next(m for m in members if m[0].name == "hasy-data-labels.csv")
    with pytest.raises(FormatError, match="member hasy-data-labels.csv appears twice"):
        _read(_archive(members + [twice]))


def test_a_labelled_image_missing_from_the_archive_is_refused():
    members, _ = hasy_members(count=12)
    gone = next(m[0].name for m in members if m[0].name.endswith(".png"))
    with pytest.raises(FormatError, match=rf"1 image\(s\) listed in hasy-data-labels.csv are not in the archive "
                                          rf"\(e.g. {gone}\)"):
        _read(_archive(_replace(members, gone, drop=True)))


@pytest.mark.parametrize("gone", ["symbols.csv", "hasy-data-labels.csv", "classification-task/fold-10/test.csv"])
def test_a_missing_text_member_is_named(gone):
    members, _ = hasy_members(count=12)
    with pytest.raises(FormatError, match=rf"the archive has no member {gone}; the published HASYv2.tar.bz2"):
        _read(_archive(_replace(members, gone, drop=True)))


def _png_of(shape, mode="L", fmt="PNG") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros(shape, np.uint8)).convert(mode).save(buffer, format=fmt)
    return buffer.getvalue()


def _random_png() -> bytes:
    return mini_hasy._png(np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8), "L")


@pytest.mark.parametrize("payload, message", [
    (_png_of((32, 33)), r"is a 33x32 image; HASYv2 images are 32x32"),
    (_random_png()[:600], r"is not a readable PNG"),  # cut inside its pixel data
    (_png_of((32, 32), fmt="JPEG"), r"is not a readable PNG"),  # a JPEG named .png
    (_png_of((32, 32), fmt="GIF"), r"is not a readable PNG"),
    (b"", r"is not a readable PNG"),
])
def test_a_png_that_is_not_a_32x32_png_is_refused_naming_the_member(payload, message):
    members, _ = hasy_members(count=12)
    name = next(m[0].name for m in members if m[0].name.endswith(".png"))
    with pytest.raises(FormatError, match=rf"member {name} {message}"):
        _read(_archive(_replace(members, name, payload)))


def test_a_png_member_larger_than_any_published_one_is_refused_before_reading():
    members, _ = hasy_members(count=12)
    name = next(m[0].name for m in members if m[0].name.endswith(".png"))
    with pytest.raises(FormatError, match=rf"member '{name}' is 70,000 bytes; at most 65,536 are expected"):
        _read(_archive(_replace(members, name, bytes(70_000))))


def test_a_member_claiming_gigabytes_is_refused_before_it_is_decompressed():
    members, _ = hasy_members(count=12)
    info = tarfile.TarInfo("README-big.txt")
    info.size = 2 << 30
    header = info.tobuf(format=tarfile.GNU_FORMAT)  # the header alone: its 2 GiB of data never follow
    with _traced() as peak, \
            pytest.raises(FormatError, match=r"member 'README-big.txt' is 2,147,483,648 bytes; the largest published"):
        _read(bz2.compress(header + tar_bytes(members)))
    assert peak() < 16 << 20


@pytest.mark.parametrize("member, body, message", [
    ("hasy-data-labels.csv", b"path,symbol,latex,user_id\n", r"the header is \['path', 'symbol', 'latex', 'user_id'\]"),
    ("hasy-data-labels.csv", b"path,symbol_id,latex,user_id\nhasy-data/v2-00000.png,31,A\n", r"line 2 has 3 fields"),
    ("hasy-data-labels.csv", b"path,symbol_id,latex,user_id\nhasy-data/v2-00000.png,+31,A,1\n",
     r"line 2 has symbol_id '\+31'; expected a non-negative integer"),
    ("hasy-data-labels.csv", "path,symbol_id,latex,user_id\nhasy-data/v2-00000.png,31,A,\u0663\n".encode(),
     r"line 2 has user_id '\u0663'"),
    ("hasy-data-labels.csv", b"path,symbol_id,latex,user_id\nhasy-data/v2-00000.png,1_0,A,1\n", r"symbol_id '1_0'"),
    ("hasy-data-labels.csv", b"path,symbol_id,latex,user_id\n\"hasy-data/v2-00000.png,31,A,1\n",
     r"is not valid CSV"),
    ("hasy-data-labels.csv", b"\xff\xfepath", r"not UTF-8 text \(byte 0\)"),
    ("hasy-data-labels.csv", b"path,symbol_id,latex,user_id\n", r"lists no image"),
    ("symbols.csv", b"symbol_id,latex,training_samples,test_samples\r\n31,A,1,1\r\n31,B,1,1\r\n",
     r"symbol_id 31 is on 2 rows"),
    ("symbols.csv", b"symbol_id,latex,training_samples,test_samples\r\n31,A,1,1\r\n32,A,1,1\r\n",
     r"latex 'A' is on 2 rows"),
    ("symbols.csv", b"symbol_id,latex,training_samples,test_samples\r\n31,,1,1\r\n", r"line 2 has an empty latex"),
    ("symbols.csv", b"symbol_id,latex,training_samples,test_samples\r\n", r"no symbol rows after the header"),
])
def test_malformed_csvs_are_refused_naming_member_and_line(member, body, message):
    members, _ = hasy_members(count=12)
    with pytest.raises(FormatError, match=rf"{member}[: ].*{message}"):
        _read(_archive(_replace(members, member, body)))


def _rows(members, name: str) -> list[str]:
    data = next(payload for info, payload in members if info.name == name)
    return data.decode().splitlines()


def test_joins_between_the_csvs_are_checked():
    members, _ = hasy_members(count=12)
    labels = _rows(members, "hasy-data-labels.csv")
    # a symbol symbols.csv does not list
    row = labels[1].split(",")
    bad = "\n".join([labels[0], ",".join([row[0], "77", row[2], row[3]]), *labels[2:]]) + "\n"
    with pytest.raises(FormatError, match=r"hasy-data-labels.csv row 1 has symbol_id 77, which symbols.csv does not"):
        _read(_archive(_replace(members, "hasy-data-labels.csv", bad.encode())))
    # a latex name that disagrees with symbols.csv
    bad = "\n".join([labels[0], ",".join([row[0], row[1], "\\beta", row[3]]), *labels[2:]]) + "\n"
    with pytest.raises(FormatError, match=r"row 1 gives symbol \d+ the latex '\\\\beta'; symbols.csv names it"):
        _read(_archive(_replace(members, "hasy-data-labels.csv", bad.encode())))
    # the same image on two label rows
    bad = "\n".join([*labels, labels[1]]) + "\n"
    with pytest.raises(FormatError, match=r"lists hasy-data/v2-\d{5}\.png on more than one row"):
        _read(_archive(_replace(members, "hasy-data-labels.csv", bad.encode())))


def test_fold_rows_must_agree_with_the_labels_and_partition_the_images():
    members, _ = hasy_members(count=12)
    name = "classification-task/fold-2/train.csv"
    rows = _rows(members, name)
    cells = rows[1].split(",")
    for column, value, what in ((3, "424242", "user_id"), (1, "32", "symbol_id")):
        changed = cells.copy()
        changed[column] = value
        if column == 1:
            changed[2] = "B"
        body = "\n".join([rows[0], ",".join(changed), *rows[2:]]) + "\n"
        with pytest.raises(FormatError, match=rf"fold-2/train.csv: row 1 gives \.\./\.\./hasy-data/v2-\d{{5}}\.png "
                                              rf"another {what} than hasy-data-labels.csv"):
            _read(_archive(_replace(members, name, body.encode())))
    # a row repeated within one CSV
    body = "\n".join([*rows, rows[1]]) + "\n"
    with pytest.raises(FormatError, match=r"fold-2/train.csv: an image is listed on more than one row"):
        _read(_archive(_replace(members, name, body.encode())))
    # an image in neither train nor test of fold 2
    body = "\n".join(rows[:1] + rows[2:]) + "\n"
    with pytest.raises(FormatError, match=r"fold 2's train.csv and test.csv list hasy-data/v2-\d{5}\.png 0 times"):
        _read(_archive(_replace(members, name, body.encode())))
    # an image in both
    test_rows = _rows(members, "classification-task/fold-2/test.csv")
    body = "\n".join([*rows, test_rows[1]]) + "\n"
    with pytest.raises(FormatError, match=r"list hasy-data/v2-\d{5}\.png 2 times together"):
        _read(_archive(_replace(members, name, body.encode())))
    # a row naming an image the labels file does not list
    body = "\n".join([*rows, "../../hasy-data/v2-77777.png,31,A,1"]) + "\n"
    with pytest.raises(FormatError, match=r"row \d+ names \.\./\.\./hasy-data/v2-77777\.png, which hasy-data-labels"):
        _read(_archive(_replace(members, name, body.encode())))


def test_damaged_compression_and_containers_are_format_errors():
    data, _ = hasy_archive(count=12)
    with pytest.raises(FormatError, match=r"damaged or truncated after \d+ members"):
        _read(data[: len(data) // 2])
    with pytest.raises(FormatError, match=r"damaged or truncated"):
        _read(data + b"garbage after the stream")
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    with pytest.raises(FormatError, match=r"damaged or truncated"):
        _read(bytes(flipped))
    with pytest.raises(FormatError, match="a zip archive, not a tarball"):
        _read(b"PK\x03\x04" + bytes(100))
    with pytest.raises(FormatError, match=r"damaged or truncated after 0 members \(empty file\)"):
        _read(bz2.compress(b""))  # an empty stream: no tar at all


def test_hostile_tar_headers_stop_before_they_are_read():
    members, _ = hasy_members(count=12)
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("x" * 150)
        tar.addfile(info, io.BytesIO(b""))
    pax = bytearray(plain.getvalue())
    # make the PAX header claim 200 MiB of records
    size_field = 124
    pax[size_field:size_field + 12] = b"%011o\0" % (200 << 20)
    pax[148:156] = b"        "
    pax[148:156] = b"%06o\0 " % sum(pax[:512])
    with pytest.raises(FormatError, match=r"member 1 is a 209,715,200-byte extended header"):
        _read(bz2.compress(bytes(pax[:1024])))


def test_a_gnu_sparse_member_is_refused():
    info = tarfile.TarInfo("hasy-data/v2-00000.png")
    info.type = tarfile.GNUTYPE_SPARSE
    members, _ = hasy_members(count=12)
    with pytest.raises(FormatError, match=r"member 1 is a GNU sparse file"):
        _read(bz2.compress(info.tobuf(format=tarfile.GNU_FORMAT) + tar_bytes(members)))


def test_fold_split_names_map_to_their_members():
    assert hasy.fold_member("fold10-test") == "classification-task/fold-10/test.csv"
    with pytest.raises(ValueError, match=r"'fold11-train' is not a HASYv2 fold split; expected one of fold1-train"):
        hasy.fold_member("fold11-train")


def test_member_count_and_expanded_size_are_bounded(monkeypatch):
    data, _ = hasy_archive(count=12)
    monkeypatch.setattr(hasy, "MAX_MEMBERS", 20)
    with pytest.raises(FormatError, match=r"more than 20 members"):
        _read(data)
    monkeypatch.setattr(hasy, "MAX_MEMBERS", 10_000)
    monkeypatch.setattr(hasy, "MAX_EXPANDED_BYTES", 20_000)
    with pytest.raises(FormatError, match=r"decompresses to more than 20,000 bytes"):
        _read(data)


def test_a_stream_that_cannot_seek_is_refused_with_advice():
    class Pipe(io.RawIOBase):
        def readable(self):
            return True

    with pytest.raises(FormatError, match="needs a path or a seekable stream"):
        read_hasy(Pipe(), MemorySink())  # type: ignore[arg-type]


def test_memory_stays_near_the_output_size_with_the_second_pass():
    count = 6000
    data, expected = hasy_archive(seed=2, count=count, order="pngs-first", compress=False)
    output = count * 32 * 32 + count * 8 * (4 + 2)  # images, four columns, folds (train + test = one column each)
    with _traced() as peak:
        result, sink = _read(data)
    assert result.num_examples == count and sink.report["archive_passes"] == 2
    np.testing.assert_array_equal(sink.arrays["images"], expected["images"])
    # the sink holds the output; the reader adds parsed CSV columns and one member at a time
    assert peak() < 1.5 * output + (4 << 20), (peak(), output)


# ------------------------------------------------------------------------------------------ the real symbols.csv


def test_symbols_table_of_the_miniature_is_parsed_in_row_order():
    table = parse_symbols(mini_hasy.symbols_csv(), "symbols.csv")
    assert table.ids.tolist() == [row[0] for row in mini_hasy.SYMBOLS]
    assert table.latex == [row[1] for row in mini_hasy.SYMBOLS]


@pytest.mark.realdata
def test_the_real_symbols_csv_gives_369_classes_in_row_order(realdata):
    data = (realdata / "hasy" / "symbols.csv").read_bytes()
    table = parse_symbols(data, "symbols.csv")
    assert len(table.ids) == len(table.latex) == 369
    assert table.ids[0] == 31 and table.latex[0] == "A"
    assert table.ids.min() == 31 and table.ids.max() == 1400
    assert len(np.unique(table.ids)) == 369 and not (np.diff(np.sort(table.ids)) == 1).all()  # not contiguous
    assert int(table.counts.sum()) == 168_233  # the image count of the archive (facts: paper, audit)
    # the real table in a miniature archive: labels index it in row order, symbol ids kept as metadata
    members, _ = hasy_members(count=12)
    rows = [tuple(line.split(",")) for line in data.decode().splitlines()[1:]]
    by_id = {int(r[0]): i for i, r in enumerate(rows)}
    result, sink = _read(_archive(_replace(members, "symbols.csv", data)))
    assert result.classes == table.latex and result.class_symbol_ids == table.ids.tolist()
    assert sink.arrays["labels"].tolist() == [by_id[int(s)] for s in sink.arrays["symbol_id"]]
