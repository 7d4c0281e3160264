"""Long-delay learning experiments: does the gradient theory predict what trains?

- ``recall``: delayed cue recall (K classes, delays D), LIF vs ALIF vs LSTM-LIF networks.
- ``digits``: scikit-learn's 8x8 digits pixel by pixel (64 steps), plain and permuted.
- ``quadrants``: LSTM-LIF with (beta1, beta2) on a grid in all four quadrants.

``--tune`` runs the learning-rate x budget grid of recall or digits and picks each model's
budget on a validation split (``tuning``); ``--protocol strong`` the stronger recall grid
(``runner.STRONG``: 5 seeds, 6 learning rates, nested budgets, clipping, ALIF's ``tau_a``;
aborted runs counted, bootstrap intervals); ``--workers N`` / ``--scheduler ADDRESS`` run a
sweep in parallel (``parallel``); the result files, their schema and their locks are in
``store``. ``learnability`` runs and reads the pre-registered learnability plan, ``tables``
generates the README's learning tables from the records.

>>> from lstmlif.experiments import run_experiment
>>> report = run_experiment("recall", "results", quick=True)
>>> report.records[0]["final_accuracy"]

Command line: ``lstmlif experiment recall|digits|quadrants|all [--quick] [--out DIR] [--tune]
[--workers N]``.
"""

from .networks import (
    DigitsNetwork,
    RecallNetwork,
    RecurrentSpikingLayer,
    build_neuron_layer,
    count_parameters,
    default_models,
)
from .runner import (
    EXPERIMENTS,
    LIMITS,
    SETTINGS,
    STRONG,
    TUNING,
    SweepReport,
    config_key,
    cue_gradient_subnormal,
    diagnose_failure,
    estimate_run,
    load_results,
    make_configs,
    paper_criterion,
    paper_prediction,
    result_dir,
    run_config,
    run_experiment,
    run_sweep,
    summary_rows,
)
from .store import Damaged, read_record, run_filename, validate_record
from .tasks import RecallTask, digits_data, digits_permutation, recall_batch
from .tuning import bootstrap_mean, grid_rows, tuned_rows

__all__ = [
    "DigitsNetwork",
    "RecallNetwork",
    "RecurrentSpikingLayer",
    "build_neuron_layer",
    "count_parameters",
    "default_models",
    "EXPERIMENTS",
    "LIMITS",
    "SETTINGS",
    "STRONG",
    "TUNING",
    "SweepReport",
    "config_key",
    "cue_gradient_subnormal",
    "diagnose_failure",
    "estimate_run",
    "load_results",
    "make_configs",
    "paper_criterion",
    "paper_prediction",
    "result_dir",
    "run_config",
    "run_experiment",
    "run_sweep",
    "summary_rows",
    "Damaged",
    "read_record",
    "run_filename",
    "validate_record",
    "bootstrap_mean",
    "grid_rows",
    "tuned_rows",
    "RecallTask",
    "digits_data",
    "digits_permutation",
    "recall_batch",
]
