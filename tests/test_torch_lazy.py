"""The torch backend is optional: importing the library (and the verification and figure
packages) must not import torch."""
import subprocess
import sys


def test_importing_dfc_theory_does_not_import_torch():
    code = ("import sys, dfc_theory, dfc_theory.datasets, verification, figures; "
            "import verification.fullscale, figures.table1; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
