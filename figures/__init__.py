"""Regenerate the paper's figures: ``python -m figures NAME [--preset quick|paper]``.

Each figure is a module ``figures/<name>.py`` exposing

    run(preset="quick", out="figures_out", seed=0, **options) -> dict

which writes ``<out>/<name>.png``, ``<out>/<name>.pdf`` and the data behind it, and returns
a summary dict with at least the key ``"summary"`` (a short text of what the figure shows,
including how our numbers compare with the paper's).  The files are written to a staging
folder and moved into ``<out>`` together once complete (``figures._common``), so a failed
or interrupted run leaves the previous ones untouched.  A module with extra command-line
options has ``parse_options(argv) -> dict`` of ``run``'s keyword arguments.
"""
FIGURES = {
    "fig1d": "controller dynamics on a feedback-pre-trained 15-10-10-1 network",
    "fig2": "the family of Condition-2/3 feedback matrices in 2 principal components",
    "fig3": "student-teacher training: six alignment/stability panels per method",
    "figS1": "spectral abscissae of the four system matrices, layer norms, per-layer angles",
    "figS2": "feedback learning alone, linear 20-10-5 network: alignment with damped pinv",
    "figS3": "feedback learning alone, tanh 20-10-5 network: alignment with damped pinv",
    "figS4": "feedback learning sweeps over alpha_fb and k_p_fb",
    "stability": "stability maps over (k_p, tau_v/tau_u) and (alpha, scale of Q)",
    "table1": "Table 1 layout from full-scale run records",
}
PRESETS = ("quick", "paper")
