"""Long-delay learning experiments: does the gradient theory predict what trains?

- ``recall``: delayed cue recall (K classes, delays D), LIF vs ALIF vs LSTM-LIF networks.
- ``digits``: scikit-learn's 8x8 digits pixel by pixel (64 steps), plain and permuted.
- ``quadrants``: LSTM-LIF with (beta1, beta2) on a grid in all four quadrants.

>>> from lstmlif.experiments import run_experiment
>>> report = run_experiment("recall", "results", quick=True)
>>> report.records[0]["final_accuracy"]

Command line: ``lstmlif experiment recall|digits|quadrants|all [--quick] [--out DIR]``.
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
    SETTINGS,
    SweepReport,
    config_key,
    diagnose_failure,
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
from .tasks import RecallTask, digits_data, digits_permutation, recall_batch

__all__ = [
    "DigitsNetwork",
    "RecallNetwork",
    "RecurrentSpikingLayer",
    "build_neuron_layer",
    "count_parameters",
    "default_models",
    "EXPERIMENTS",
    "SETTINGS",
    "SweepReport",
    "config_key",
    "diagnose_failure",
    "load_results",
    "make_configs",
    "paper_criterion",
    "paper_prediction",
    "result_dir",
    "run_config",
    "run_experiment",
    "run_sweep",
    "summary_rows",
    "RecallTask",
    "digits_data",
    "digits_permutation",
    "recall_batch",
]
