"""Error handling shared by the project's command lines: one line, the right exit status.

Every command (``python -m figures``, ``python -m verification``, the torch training CLI)
answers bad input the same way:

=====================================================  ======  =================================
what went wrong                                        status  what is printed (stderr)
=====================================================  ======  =================================
bad usage: unknown option, bad option value            2       ``PROG: error: --seed: ...``
(:class:`UsageError`, argparse errors of
:class:`ArgumentParser`, and the ``ValueError`` /
``TypeError`` of the library, whose messages start
with the argument's name)
bad data: a malformed file, a missing folder           1       ``PROG: error: FILE: what is wrong``
(:class:`DataError`, any ``OSError``)
Ctrl-C (``KeyboardInterrupt``)                         130     ``PROG: interrupted``
SIGTERM (raised as :class:`Interrupted`)               143     ``PROG: terminated (SIGTERM)``
anything else (a bug)                                  1       the traceback
=====================================================  ======  =================================

An :class:`Interrupted` with a message (a trainer's "interrupted after epoch 2 of 5: ...")
prints ``PROG: <message>`` instead; the status is 128 + its signal number either way.
Messages are one line (newlines are folded); ``--debug`` anywhere on the command line
(before a ``--``) lets every exception through with its traceback.

Use: decorate ``main(argv=None)`` with :func:`command`, parse with :class:`ArgumentParser`,
check ``--out`` with :func:`check_output_folder`; code that reads files raises
:class:`DataError` naming the file, or wraps the block in :func:`data_errors`.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

__all__ = ["UsageError", "DataError", "Interrupted", "ArgumentParser", "command", "data_errors",
           "signal_handlers", "check_output_folder", "non_negative_int", "positive_int",
           "int_at_least", "EXIT_DATA", "EXIT_USAGE", "DEBUG_FLAG"]

EXIT_DATA = 1
EXIT_USAGE = 2
DEBUG_FLAG = "--debug"


class UsageError(SystemExit):
    """Bad command-line usage (exit status 2); the message names the option.

    A ``SystemExit`` like argparse's own errors, so a command that is not wrapped by
    :func:`command` still stops with the message (exit status 1) instead of a traceback.
    """

    def __init__(self, message):
        super().__init__(str(message))


class DataError(ValueError):
    """A file or folder whose content is wrong (exit status 1); the message starts with
    the file's path."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM (``signum``), with an optional one-line ``message`` saying what was
    kept; a ``KeyboardInterrupt``, so code that handles Ctrl-C handles it too.  Exit status
    128 + ``signum``."""

    def __init__(self, message="", signum=signal.SIGINT):
        super().__init__(message)
        self.signum = int(signum)


def _raise_interrupted(signum, frame):
    raise Interrupted(signum=signum)


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors raise :class:`UsageError` (one line, no
    usage dump) and whose help lists ``--debug``."""

    def __init__(self, *args, debug_option=True, **kwargs):
        super().__init__(*args, **kwargs)
        if debug_option and self.add_help:
            self.add_argument(DEBUG_FLAG, action="store_true",
                              help="show the traceback of an error instead of one line")

    def parse_args(self, args=None, namespace=None):
        ns, extra = self.parse_known_args(args, namespace)
        if extra:
            what = ("unknown option" if any(a.startswith("-") for a in extra)
                    else "unexpected argument")
            raise UsageError(f"{what}{'s' if len(extra) > 1 else ''}: {' '.join(extra)}")
        return ns

    def error(self, message):
        raise UsageError(message)


def _one_line(text):
    return " ".join(str(text).split())


def _message(exc):
    """One line for ``exc``: OSError as "FILE: reason", others as their text."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return _one_line(f"{os.fspath(exc.filename)}: {exc.strerror}")
    return _one_line(exc) or type(exc).__name__


def classify(exc):
    """Exit status of an exception under the table of the module docstring, or None for
    an exception that is a bug (shown with its traceback)."""
    if isinstance(exc, KeyboardInterrupt):
        return 128 + getattr(exc, "signum", signal.SIGINT)
    if isinstance(exc, (DataError, OSError)):
        return EXIT_DATA
    return EXIT_USAGE if isinstance(exc, (UsageError, ValueError, TypeError)) else None


def command(prog):
    """Decorator for a command's ``main(argv=None) -> int``: errors become one line on
    stderr and an exit status (module docstring), which the wrapped function returns (so
    tests can call it in-process).  ``argv=None`` reads ``sys.argv[1:]``; ``--debug`` is
    taken out of it.  SIGTERM raises :class:`Interrupted` while ``main`` runs (main thread).
    """
    def wrap(main):
        @functools.wraps(main)
        def run(argv=None):
            argv = list(sys.argv[1:] if argv is None else argv)
            head = argv.index("--") if "--" in argv else len(argv)
            debug = DEBUG_FLAG in argv[:head]
            argv = [a for a in argv[:head] if a != DEBUG_FLAG] + argv[head:]
            try:
                with signal_handlers(_raise_interrupted):  # SIGTERM ends like Ctrl-C
                    return main(argv)
            except BaseException as exc:  # noqa: B902 - sorted by classify, bugs re-raised
                status = classify(exc)
                if status is None or debug:
                    raise
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(Exception):
                        stream.flush()
                if isinstance(exc, KeyboardInterrupt):
                    sigterm = status == 128 + signal.SIGTERM
                    text = _one_line(exc) or ("terminated (SIGTERM)" if sigterm else "interrupted")
                else:
                    text = f"error: {_message(exc)}"
                print(f"{prog}: {text}", file=sys.stderr, flush=True)
                return status
        return run
    return wrap


@contextlib.contextmanager
def signal_handlers(handler, signals=(signal.SIGTERM,)):
    """``handler`` for ``signals`` inside the block, the previous handlers restored after;
    in threads other than the main one (which cannot set handlers) the block runs as is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, signal.SIG_DFL if h is None else h)


@contextlib.contextmanager
def data_errors(what=None):
    """Turn the ``ValueError``/``OSError`` raised in the block into :class:`DataError`
    (exit status 1), prefixed with ``what`` (e.g. the file being read) when given."""
    try:
        yield
    except (DataError, UsageError):
        raise
    except (ValueError, OSError) as exc:
        msg = _message(exc)
        raise DataError(f"{what}: {msg}" if what else msg) from exc


# ---------------------------------------------------------------------------- option types
def int_at_least(low, what=None):
    """argparse ``type=``: an integer >= ``low`` (``what`` explains the bound)."""
    def parse(text):
        try:
            value = int(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            why = f" ({what})" if what else ""
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}{why}, got {value}")
        return value
    parse.__name__ = f"integer >= {low}"
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0, "NumPy seeds are non-negative")


def check_output_folder(path, option="--out"):
    """Check, before any work, that ``path`` is a folder that exists or can be created and
    written to; raise :class:`UsageError` naming ``option`` otherwise.  Creates nothing
    (a probe folder is made and removed in the nearest existing parent)."""
    p = anc = Path(path)
    while not anc.exists() and anc.parent != anc:
        anc = anc.parent
    if anc.exists() and not anc.is_dir():
        what = "exists and is not a folder" if anc == p else f"lies inside {anc}, which is a file"
        raise UsageError(f"{option}: {p} {what}")
    try:
        probe = tempfile.mkdtemp(prefix=".write-check-", dir=anc)
    except OSError as exc:
        raise UsageError(f"{option}: cannot write in {os.fspath(anc)} "
                         f"({exc.strerror or exc})") from None
    shutil.rmtree(probe, ignore_errors=True)
    return p
