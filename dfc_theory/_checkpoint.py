"""Checkpoints of training runs, shared by the NumPy training loop and the torch trainer: an
interrupted run loses at most the epoch it was in.

Format.  One ``.npz`` file per run, read with ``allow_pickle=False``: the run's arrays
(weights, biases, Q, optimizer moments, torch RNG states; the trainer names them) and
``__state__``, a JSON text with ``schema`` (:data:`SCHEMA`), ``status`` ("running" or
"complete"), ``identity`` (configuration, seed and data: what makes two runs the same run)
and ``state`` (the epoch counter, the logs so far with NaN kept, the NumPy Generator
states of shuffling and feedback noise, optimizer step counts, seconds spent).

Writing (:func:`atomic_write`): a temporary file in the same folder, flushed and fsync'ed,
renamed over the previous file (``os.replace``), then the folder fsync'ed; SIGINT and
SIGTERM arriving meanwhile are held and delivered right after (:func:`deferred_signals`).
A checkpoint on disk is therefore always one whole epoch's state; a hard kill (SIGKILL,
power loss) can leave at most a stray ``.<name>.tmp-<pid>`` file beside it.  Resuming:
:func:`start`; an interrupted trainer raises :func:`interrupted`.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import zipfile
from pathlib import Path

import numpy as np

from ._cli import DataError, Interrupted, signal_handlers

__all__ = ["SCHEMA", "atomic_write", "deferred_signals", "save", "load", "start",
           "saved_run", "interrupted", "plain"]

SCHEMA = "dfc-theory/checkpoint/1"
SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def deferred_signals():
    """Hold SIGINT and SIGTERM inside the block and deliver them (to the handlers that were
    there before) when it is done (main thread only, :func:`~dfc_theory._cli.signal_handlers`)."""
    held = []
    with signal_handlers(lambda signum, frame: held.append(signum), SIGNALS):
        yield
    for s in dict.fromkeys(held):
        signal.raise_signal(s)


def atomic_write(path, write):
    """Write ``path`` by ``write(binary_file)`` atomically (module docstring); returns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with deferred_signals():
        try:
            with open(tmp, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:  # the temporary file of a failed write (after a rename it is gone)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        with contextlib.suppress(OSError):  # the rename itself durable (POSIX)
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    return path


def _plain(o):
    """JSON for NumPy / torch scalars, small arrays and paths (``json.dumps(default=...)``)."""
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def plain(obj):
    """``obj`` after a JSON round trip (tuples become lists, NumPy scalars Python numbers;
    NaN stays NaN): the form in which it comes back from a checkpoint."""
    return json.loads(json.dumps(obj, default=_plain))


def save(path, status, identity, state, arrays):
    """Write a checkpoint (module docstring) atomically; ``arrays``: name -> NumPy array."""
    text = json.dumps({"schema": SCHEMA, "status": status, "identity": identity,
                       "state": state}, default=_plain)
    return atomic_write(path, lambda f: np.savez(f, __state__=np.array(text), **arrays))


@contextlib.contextmanager
def read_npz(path):
    """``np.load(path)`` (no pickles) on a handle of our own, closed however it ends: np.load
    leaks the one it opens itself when the zip is corrupt."""
    with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
        yield z


def load(path):
    """``(meta, arrays)`` of the checkpoint ``path`` (meta: the ``__state__`` JSON), None when
    there is no such file; DataError naming the file when it is not a readable checkpoint."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with read_npz(path) as z:
            meta = json.loads(str(z["__state__"]))
            arrays = {k: z[k] for k in z.files if k != "__state__"}
        if not isinstance(meta, dict) or meta.get("schema") != SCHEMA:
            raise ValueError(f"expected schema {SCHEMA!r}")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable checkpoint ({exc}); remove it to start the "
                        f"run anew") from exc
    return meta, arrays


def start(path, identity, resume=False, overwrite=False):
    """The saved run to continue, ``(meta, arrays)``, or None to start anew, for the run
    ``identity`` whose checkpoint is ``path``.

    No file: None.  A checkpoint of this run: returned with ``resume`` (also when complete:
    the caller returns its result), None with ``overwrite``, ValueError otherwise.  A
    checkpoint of another run (``identity`` differs): None with ``overwrite``, ValueError
    otherwise.
    """
    saved = load(path)
    if saved is None:
        return None
    meta = saved[0]
    same = meta.get("identity") == plain(identity)
    if same and resume:
        return saved
    if overwrite:
        return None
    if not same:
        raise ValueError(f"checkpoint: {path} holds another run (a different configuration, "
                         f"seed or data set); pass overwrite=True (--overwrite) to replace "
                         f"it, or write elsewhere")
    what = ("a complete run" if meta.get("status") == "complete" else
            f"an unfinished run ({meta['state']['epoch']} of "
            f"{meta['identity']['config']['epochs']} epochs done)")
    raise ValueError(f"resume: {path} holds {what} of this configuration; pass resume=True "
                     f"(--resume) to continue it or overwrite=True (--overwrite) to start anew")


def saved_run(path, identity):
    """``(meta, arrays)`` of the checkpoint ``path`` when it holds the run ``identity``,
    else None: what an interrupted run has kept."""
    saved = load(path)
    return saved if saved is not None and saved[0]["identity"] == plain(identity) else None


def interrupted(exc, what):
    """The :class:`~dfc_theory._cli.Interrupted` to raise for the KeyboardInterrupt ``exc``
    (Ctrl-C, or SIGTERM under :func:`dfc_theory._cli.command`) of a checkpointed run:
    message ``what`` and the signal of ``exc``."""
    return Interrupted(what, getattr(exc, "signum", signal.SIGINT))
