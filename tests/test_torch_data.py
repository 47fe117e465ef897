"""The checked IDX/gzip loader (dfc_theory.datasets, re-exported by dfc_theory.torch.data)
on tiny synthetic IDX files.

Every malformed file must give a ValueError (DataError) whose message starts with the
file's path and says what is wrong; well-formed files must give the pixels and labels that
were written, split by the seeded permutation.
"""
import gzip

import numpy as np
import pytest

pytest.importorskip("torch")

from dfc_theory import datasets as core_datasets  # noqa: E402
from dfc_theory._cli import DataError  # noqa: E402
from dfc_theory.torch import data as tdata  # noqa: E402

pytestmark = pytest.mark.torch

TRAIN_IMG, TRAIN_LAB = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_IMG, TEST_LAB = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"


def idx_bytes(arr, code=0x08, ndim=None):
    """An IDX file: 0, 0, type code, number of dimensions, big-endian sizes, data."""
    arr = np.asarray(arr)
    nd = arr.ndim if ndim is None else ndim
    head = bytes([0, 0, code, nd]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def write_set(folder, n_train=30, n_test=8, seed=0, gz=False, **override):
    """The four files of a tiny MNIST-format set; ``override`` maps a file stem to bytes
    written instead of the well-formed content."""
    rng = np.random.default_rng(seed)
    content = {TRAIN_IMG: idx_bytes(rng.integers(0, 256, (n_train, 28, 28))),
               TRAIN_LAB: idx_bytes(rng.integers(0, 10, n_train)),
               TEST_IMG: idx_bytes(rng.integers(0, 256, (n_test, 28, 28))),
               TEST_LAB: idx_bytes(rng.integers(0, 10, n_test))}
    content.update({k.replace("_", "-"): v for k, v in override.items()})
    folder.mkdir(parents=True, exist_ok=True)
    for stem, raw in content.items():
        if gz:
            (folder / (stem + ".gz")).write_bytes(gzip.compress(raw, mtime=0))
        else:
            (folder / stem).write_bytes(raw)
    return folder


def _load(folder, **kw):
    return tdata.load_idx(folder, "mnist", n_val=kw.pop("n_val", 10), **kw)


def test_plain_and_gzipped_sets_give_the_written_data(tmp_path):
    plain = _load(write_set(tmp_path / "plain"), seed=3)
    zipped = _load(write_set(tmp_path / "gz", gz=True), seed=3)
    rng = np.random.default_rng(0)  # write_set's draws, in its order
    img, lab = rng.integers(0, 256, (30, 28, 28)), rng.integers(0, 10, 30)
    img_te, lab_te = rng.integers(0, 256, (8, 28, 28)), rng.integers(0, 10, 8)
    perm = np.random.default_rng(3).permutation(30)
    want = {"x_train": img[perm[10:]], "y_train": lab[perm[10:]], "x_val": img[perm[:10]],
            "y_val": lab[perm[:10]], "x_test": img_te, "y_test": lab_te}
    for split, w in want.items():
        w = w.reshape(len(w), -1) / 255.0 if split[0] == "x" else w
        np.testing.assert_array_equal(getattr(plain, split), w)
        np.testing.assert_array_equal(getattr(zipped, split), w)
    assert tdata.load_idx is core_datasets.load_idx
    assert plain.x_train.shape == (20, 784) and plain.y_test.dtype == np.int64
    assert 0.0 <= plain.x_train.min() and plain.x_train.max() <= 1.0


def test_small_sets_are_marked_reduced_and_standard_sizes_are_not(tmp_path, monkeypatch):
    folder = write_set(tmp_path)
    assert _load(folder).reduced                       # 30 < 60000 training images
    monkeypatch.setattr(core_datasets, "STANDARD_SIZES", (30, 8))
    assert not _load(folder).reduced


def test_gzip_is_recognised_by_content_not_by_name(tmp_path):
    # gzipped content under the plain name, plain content under a .gz name: both read
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (30, 28, 28))
    folder = write_set(tmp_path, **{TRAIN_IMG: gzip.compress(idx_bytes(imgs))})
    d = _load(folder, seed=0)
    all_x = np.concatenate([d.x_train, d.x_val])
    assert sorted(map(tuple, all_x)) == sorted(map(tuple, imgs.reshape(30, -1) / 255.0))
    (tmp_path / "b").mkdir()
    write_set(tmp_path / "b")
    raw = (tmp_path / "b" / TEST_LAB).read_bytes()
    (tmp_path / "b" / TEST_LAB).unlink()
    (tmp_path / "b" / (TEST_LAB + ".gz")).write_bytes(raw)
    assert len(_load(tmp_path / "b").y_test) == 8


def _error(folder, match, **kw):
    with pytest.raises(DataError, match=match) as exc:
        _load(folder, **kw)
    assert isinstance(exc.value, ValueError)
    return str(exc.value)


MALFORMED = [
    (TRAIN_IMG, b"\x00\x00\x08", "too short for an IDX header"),
    (TRAIN_IMG, b"\x08\x03\x00\x00" + bytes(100), "not an IDX file"),
    (TRAIN_LAB, idx_bytes(np.zeros(30), code=0x0D), r"unsigned-byte .*float32"),
    (TRAIN_IMG, idx_bytes(np.zeros(30 * 784)), "expected 3 dimension"),
    (TRAIN_IMG, idx_bytes(np.zeros((30, 20, 20))), "expected 28x28 images, got 20x20"),
    (TRAIN_IMG, idx_bytes(np.zeros((30, 28, 28)))[:-5], "truncated file"),
    (TRAIN_IMG, idx_bytes(np.zeros((30, 28, 28))) + b"\x00", "trailing bytes"),
    (TRAIN_IMG, bytes([0, 0, 8, 3]) + (30).to_bytes(4, "big"), "truncated header"),
    (TEST_IMG, idx_bytes(np.zeros((0, 28, 28))), "empty data set"),
    (TRAIN_LAB, idx_bytes(np.zeros(29)), "29 labels for the 30 images"),
    (TEST_LAB, idx_bytes(np.arange(9) % 10), "9 labels for the 8 images"),
    (TRAIN_LAB, idx_bytes(np.arange(30) * 8 % 256), r"labels must lie in 0\.\.9"),
]


@pytest.mark.parametrize("stem, raw, match", MALFORMED, ids=[c[2] for c in MALFORMED])
def test_malformed_files_name_the_file_and_the_problem(tmp_path, stem, raw, match):
    folder = write_set(tmp_path, **{stem: raw})
    msg = _error(folder, match)
    assert msg.startswith(str(folder / stem))


def test_bad_gzip_files(tmp_path):
    good = write_set(tmp_path / "good", gz=True)
    comp = (good / (TRAIN_IMG + ".gz")).read_bytes()
    cases = {"truncated": (comp[:len(comp) // 2], "truncated gzip file"),
             "notgzip": (b"this is not gzip data at all", "not gzip-compressed although"),
             "corrupt": (comp[:20] + bytes(b ^ 0xFF for b in comp[20:60]) + comp[60:],
                         "(corrupt|truncated) gzip file")}
    for name, (raw, match) in cases.items():
        folder = write_set(tmp_path / name, gz=True)
        (folder / (TRAIN_IMG + ".gz")).write_bytes(raw)
        assert _error(folder, match).startswith(str(folder / (TRAIN_IMG + ".gz")))


def test_count_mismatch_of_the_issue_is_an_error_not_a_200_sample_run(tmp_path):
    # 10,300 images with 10,200 labels used to train on 200 samples marked "not reduced"
    rng = np.random.default_rng(0)
    folder = write_set(tmp_path, **{TRAIN_IMG: idx_bytes(rng.integers(0, 256,
                                                                      (10300, 28, 28))),
                                    TRAIN_LAB: idx_bytes(rng.integers(0, 10, 10200))})
    _error(folder, "10200 labels for the 10300 images", n_val=10000)


def test_split_that_leaves_no_training_sample_is_refused(tmp_path):
    folder = write_set(tmp_path, n_train=200)
    msg = _error(folder, "200 training images leave no training sample", n_val=10000)
    assert msg.startswith(str(folder / TRAIN_IMG))
    _error(folder, "leave no training sample", n_val=200)
    assert len(_load(folder, n_val=199).x_train) == 1
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n_val"):
            _load(folder, n_val=bad)


def test_missing_folder_files_and_unreadable_entries(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_dir: .* does not exist"):
        tdata.load_idx(tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(FileNotFoundError, match="data_dir: .* is not a folder"):
        tdata.load_idx(tmp_path / "f")
    folder = write_set(tmp_path / "d")
    (folder / TEST_LAB).unlink()
    with pytest.raises(FileNotFoundError, match=TEST_LAB):
        _load(folder)
    (folder / TEST_LAB).mkdir()                     # a folder where the file should be
    _error(folder, "cannot read")


def test_fashion_mnist_subfolder_and_load_data(tmp_path):
    write_set(tmp_path / "fashion_mnist", seed=5)
    d = tdata.load_data("fashion_mnist", data_dir=tmp_path, n_val=5, dtype="float64")
    assert d.reduced and d.sizes() == {"train": 25, "val": 5, "test": 8}
    write_set(tmp_path / "bad", **{TRAIN_LAB: idx_bytes(np.full(30, 255))})
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
        tdata.load_data("mnist", data_dir=tmp_path / "bad", n_val=5)
