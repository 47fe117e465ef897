"""Settings of one full-scale run (:class:`FullScaleConfig`) and the paper's network sizes:
configuration only (the loop is :mod:`dfc_theory.torch._trainer`, the command line
:mod:`dfc_theory.torch.__main__`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .._controller import Controller
from .._methods import DFC_METHODS, FEEDBACK_KINDS, FORWARD_METHODS, RULES
from .._training_config import RunSettings
from .._validation import check_choice, check_int, check_scalar, resolve_dtype
from . import records as rec
from .data import DATASETS

__all__ = ["FullScaleConfig", "default_sizes", "FEEDBACK_KINDS"]


def default_sizes(dataset):
    """784-256-256-256-10 (classification) or 784-256-32-256-784 (autoencoder).

    Parameters
    ----------
    dataset : str
        One of ``DATASETS``; "mnist_ae" is the autoencoder.

    Returns
    -------
    tuple of int
        The paper's layer widths (n_0, ..., n_L).

    Examples
    --------
    >>> from dfc_theory.torch.train import default_sizes
    >>> default_sizes("fashion_mnist"), default_sizes("mnist_ae")
    ((784, 256, 256, 256, 10), (784, 256, 32, 256, 784))
    """
    return (784, 256, 32, 256, 784) if dataset == "mnist_ae" else (784, 256, 256, 256, 10)


@dataclass(frozen=True)
class FullScaleConfig(RunSettings):
    """All settings of one full-scale run (per seed).

    Controller, lambda and feedback (alpha_fb, k_p_fb, sigma_fb: we read its "sigma" as the
    sleep-phase noise) defaults are the reference MNIST settings of THEORY.md section 9
    (``k_p``, ``tau_v`` None: per method), leak "total", the nonlinear rule; the other
    sleep-phase settings are Fig 1D's.  Learning rates and the feedback schedule are our
    choices (not in the published material we had).  ``sizes``, ``epochs`` None: the
    paper's.  Logged exact-steady-state metrics (Newton, Proposition 4, Condition 3, Lemma 1)
    use the first ``metric_samples`` samples of a batch (None: all; 16 for the autoencoder,
    whose n_L = 784 makes each cost B n_L^2 N), the full-system abscissa ``abscissa_samples``.

    Parameters
    ----------
    method, feedback : str, {"trained", "fixed"}
        One of FORWARD_METHODS (a "-fixed" suffix sets ``feedback="fixed"``); ``feedback``
        becomes None for BP and DFA.
    dataset, data_dir : {"mnist", "fashion_mnist", "mnist_ae"}, path or None
        The data (:func:`dfc_theory.torch.data.load_data`; ``data_dir`` None: the offline
        MNIST subset, and Fashion-MNIST cannot be loaded).
    sizes, activation, output_activation : tuple of int or None, str, str
        Layer widths n_0 .. n_L (None: :func:`default_sizes`; n_0 and n_L must be those).
    epochs, batch_size, lr : int or None, int, float
        Forward epochs (None: the paper's), minibatch size, Adam rate of the forward weights.
    n_train, data_seed : int or None, int
        Keep only the first ``n_train`` training samples (tiny runs); seed of the split.
    lam : float > 0
        lambda of the targets r_L* = r_L^- - lambda dLoss/dr_L.
    alpha, k_p, tau_v, leak, dt, n_steps : float, float or None, float or None, str, float, int
        The forward controller and its Euler simulation (k_p, tau_v None: 0 and 0.005 for
        DFC-SSA, 2 and 0.2 otherwise).
    rule, fixed_mode, dfa_scale : str, {"initial", "recompute"}, float
        Plasticity signal, when fixed Q = the weight product is built, DFA matrix scale.
    fb_pretrain_epochs, fb_epochs_per_epoch : int >= 0
        Feedback schedule (trained feedback).
    q_init_scale, alpha_fb, k_p_fb, tau_v_fb, dt_fb, n_steps_fb, tau_A_fb, sigma_fb : float
        Initial Q scale and the sleep phase (n_steps_fb an int; :meth:`feedback_config`).
    lr_fb, decay_fb, fb_optimizer : float > 0, float, {"sgd", "adam"}
        Feedback learning rate, weight decay beta, optimiser of Q.
    gn_damping : float >= 0
        gamma of the damped GN and min-norm references.
    log_every : int >= 0
        Log the first batch of an epoch and every ``log_every``-th (0: the first only).
    abscissa_samples, metric_samples, newton_max_iter : int, int or None, int
        Logged exact-steady-state metrics (above); Newton's iteration limit.
    device, dtype : str
        Where and in which floating precision the run computes (e.g. "float32", "float64").

    Examples
    --------
    >>> from dfc_theory.torch.train import FullScaleConfig
    >>> c = FullScaleConfig(method="dfc-fixed")
    >>> c.method, c.feedback, c.label, c.sizes, c.k_p, c.tau_v, c.loss
    ('dfc', 'fixed', 'DFC (fixed)', (784, 256, 256, 256, 10), 2.0, 0.2, 'cross_entropy')
    >>> FullScaleConfig(method="bp").feedback, FullScaleConfig(dataset="mnist_ae").sizes[-1]
    (None, 784)
    """

    method: str = "dfc-ssa"
    feedback: str = "trained"
    dataset: str = "mnist"
    data_dir: Optional[str] = None
    sizes: Optional[tuple] = None
    activation: str = "tanh"
    output_activation: str = "linear"
    epochs: Optional[int] = None
    batch_size: int = 128
    lr: float = 1e-3
    n_train: Optional[int] = None
    data_seed: int = 0
    # targets
    lam: float = 0.078
    # forward controller (k_p / tau_v None: per-method defaults)
    alpha: float = 1.39e-3
    k_p: Optional[float] = None
    tau_v: Optional[float] = None
    leak: str = "total"
    dt: float = 0.02
    n_steps: int = 1000
    rule: str = "nonlinear"
    fixed_mode: str = "initial"
    dfa_scale: float = 1.0
    # feedback learning (trained feedback)
    fb_pretrain_epochs: int = 5
    fb_epochs_per_epoch: int = 1
    q_init_scale: float = 0.01
    alpha_fb: float = 0.61
    k_p_fb: float = 0.157
    tau_v_fb: float = 0.01
    dt_fb: float = 0.002
    n_steps_fb: int = 50
    tau_A_fb: Optional[float] = 0.3
    sigma_fb: float = 1.5e-3
    lr_fb: float = 0.1
    decay_fb: float = 0.025
    fb_optimizer: str = "sgd"
    # logging
    gn_damping: float = 0.1
    log_every: int = 0
    abscissa_samples: int = 2
    metric_samples: Optional[int] = None
    newton_max_iter: int = 20
    # numerics
    device: str = "cpu"
    dtype: str = "float32"

    def __post_init__(self):
        s = object.__setattr__
        m = self.method
        if isinstance(m, str) and m.endswith("-fixed"):
            s(self, "method", m[:-len("-fixed")])
            s(self, "feedback", "fixed")
        for name, choices in (("method", FORWARD_METHODS), ("feedback", FEEDBACK_KINDS),
                              ("dataset", DATASETS), ("rule", RULES),
                              ("fixed_mode", ("initial", "recompute")),
                              ("fb_optimizer", ("sgd", "adam"))):
            check_choice(getattr(self, name), name, choices)
        if self.method not in DFC_METHODS:
            s(self, "feedback", None)
        ssa, paper = self.method == "dfc-ssa", default_sizes(self.dataset)
        for name, default in (("sizes", paper), ("epochs", rec.PAPER_EPOCHS[self.dataset]),
                              ("metric_samples", 16 if self.dataset == "mnist_ae" else None),
                              ("k_p", 0.0 if ssa else 2.0), ("tau_v", 0.005 if ssa else 0.2)):
            if getattr(self, name) is None:
                s(self, name, default)
        s(self, "sizes", tuple(int(n) for n in self.sizes))
        if (self.sizes[0], self.sizes[-1]) != (paper[0], paper[-1]):
            raise ValueError(f"sizes: {self.dataset} needs {paper[0]} inputs and {paper[-1]} "
                             f"outputs, got {list(self.sizes)}")
        for name in ("epochs", "batch_size", "n_steps", "n_steps_fb", "newton_max_iter") + \
                (("metric_samples",) if self.metric_samples is not None else ()):
            check_int(getattr(self, name), name)
        for name in ("fb_pretrain_epochs", "fb_epochs_per_epoch", "log_every",
                     "abscissa_samples"):
            check_int(getattr(self, name), name, low=0)
        for name in ("lr", "lam", "lr_fb", "sigma_fb"):
            check_scalar(getattr(self, name), name, low=0.0, low_inclusive=False)
        check_scalar(self.gn_damping, "gn_damping", low=0.0)
        resolve_dtype(self.dtype)
        self.controller()
        if self.method in ("dfc", "dfc-ss") and self.dt >= self.tau_v > 0:
            raise ValueError(f"dt: forward Euler needs dt < tau_v = {self.tau_v}, got {self.dt}")
        if self.uses_feedback_learning:
            self.feedback_config()

    @property
    def task(self):
        return "autoencoder" if self.dataset == "mnist_ae" else "classification"

    @property
    def loss(self):
        return "mse" if self.task == "autoencoder" else "cross_entropy"

    @property
    def label(self):
        return rec.label(self.method, self.feedback)

    def controller(self):
        return Controller(alpha=self.alpha, k_p=self.k_p, tau_v=self.tau_v, leak=self.leak)

    def feedback_config(self):
        return self.sleep_config(lr_fb=self.lr_fb)
