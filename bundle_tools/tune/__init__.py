"""Hyper-parameter search for any bundle: ``python -m bundle_tools tune`` (see docs/tuning.md).

Each trial is a real bundle run (``python -m monai.bundle run training``) in its own folder, with the
trial's values of the search space as config overrides; Optuna picks them (TPE), prunes on the per-epoch
validation metric the trial writes to ``runs/training_curves.csv``, and keeps the study in SQLite so an
interrupted search resumes.

``space``         the search space file (``space.json``): config ids -> distributions, checked
``trial_runner``  one trial: its command, its process (own process group), polling its curves, pruning
``study``         the Optuna study: storage, sampler, pruner, resume, the objective, parallel trials
``report``        trials.csv, trials.md, plots, best_overrides.json
``plots``         the metric per trial and the parameter importances (pictures)
``cli``           the ``tune`` command
"""

from __future__ import annotations

__all__ = ["cli", "plots", "report", "space", "study", "trial_runner"]
