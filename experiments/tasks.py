"""Data for the learning experiments: the delayed cue-recall task and sequential 8x8 digits.

Every generator is a pure function of its arguments and seed (NumPy ``default_rng``), so the
same call gives the same data on every machine. Sequences are time-major: (T, B, C) float32.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

__all__ = [
    "CUE_CHANNELS",
    "RecallTask",
    "recall_batch",
    "DIGITS_PERMUTATION",
    "digits_permutation",
    "digits_data",
]


CUE_CHANNELS = ("shared", "separate")


@dataclass(frozen=True)
class RecallTask:
    """The delayed cue-recall task.

    Channels: ``n_classes`` cue groups of ``group`` channels, then ``group`` recall channels
    (C = (n_classes + 1) * group). Steps: ``cue_steps`` of cue (the group of class k fires with
    probability ``cue_rate``, the other cue groups are silent), ``delay`` steps of distractor
    (every cue channel fires with probability ``noise_rate``, whatever the class), then
    ``recall_steps`` of recall signal (the recall channels fire every step, the cue channels
    are silent). T = cue_steps + delay + recall_steps. Chance accuracy is 1 / n_classes.

    ``cue_channels="separate"`` moves the distractors onto channels of their own: the
    ``n_classes * group`` cue channels stay silent after the cue, and as many distractor
    channels (between the cue and the recall channels) fire with probability ``noise_rate``
    during the delay: C = (2 n_classes + 1) * group.
    """

    delay: int
    n_classes: int = 4
    group: int = 4
    cue_steps: int = 5
    recall_steps: int = 5
    cue_rate: float = 0.5
    noise_rate: float = 0.05
    cue_channels: str = "shared"

    def __post_init__(self) -> None:
        for name in ("delay", "n_classes", "group", "cue_steps", "recall_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"RecallTask: '{name}' must be an integer, got {value!r}")
        if self.delay < 0:
            raise ValueError(f"RecallTask: 'delay' must be >= 0, got {self.delay}")
        if self.n_classes < 4:
            raise ValueError(f"RecallTask: 'n_classes' must be >= 4, got {self.n_classes}")
        for name in ("group", "cue_steps", "recall_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"RecallTask: '{name}' must be >= 1, got {getattr(self, name)}")
        for name in ("cue_rate", "noise_rate"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise ValueError(f"RecallTask: '{name}' must lie in [0, 1], got {value!r}")
        if self.cue_rate <= 0.0:
            raise ValueError("RecallTask: 'cue_rate' must be > 0 (the cue must be visible)")
        if self.cue_channels not in CUE_CHANNELS:
            raise ValueError(
                f"RecallTask: 'cue_channels' must be one of {CUE_CHANNELS}, "
                f"got {self.cue_channels!r}"
            )

    @property
    def n_channels(self) -> int:
        groups = 2 * self.n_classes + 1 if self.cue_channels == "separate" else self.n_classes + 1
        return groups * self.group

    @property
    def length(self) -> int:
        return self.cue_steps + self.delay + self.recall_steps

    @property
    def chance(self) -> float:
        return 1.0 / self.n_classes

    def config(self) -> dict:
        """The fields as a dict; ``cue_channels`` only when it is not the default "shared" (so
        the records of runs made before the option existed are reproduced unchanged)."""
        out = asdict(self)
        if self.cue_channels == "shared":
            del out["cue_channels"]
        return out


def recall_batch(task: RecallTask, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences of ``task``: x (T, n, C) float32 spikes in {0, 1}, y (n,) int64 classes.

    Classes are drawn uniformly; the whole batch is a function of (task, n, seed) only. The
    random draws do not depend on ``cue_channels``: the two variants differ only in where the
    distractors land.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"recall_batch: n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    K, g = task.n_classes, task.group
    y = rng.integers(0, K, size=n)
    x = np.zeros((task.length, n, task.n_channels), dtype=np.float32)
    c, d = task.cue_steps, task.delay
    cue_on = rng.random((c, n, g)) < task.cue_rate
    for k in range(K):
        rows = np.nonzero(y == k)[0]
        x[:c, rows, k * g : (k + 1) * g] = cue_on[:, rows, :]
    noise = slice(0, K * g) if task.cue_channels == "shared" else slice(K * g, 2 * K * g)
    x[c : c + d, :, noise] = rng.random((d, n, K * g)) < task.noise_rate
    x[c + d :, :, task.n_channels - g :] = 1.0
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))


# A fixed permutation of the 64 pixels of the 8x8 digits, drawn once with
# numpy.random.default_rng(2307).permutation(64) and saved here so that it never changes.
# fmt: off
DIGITS_PERMUTATION: tuple[int, ...] = (
    55, 18, 7, 39, 0, 25, 10, 14, 62, 41, 36, 16, 19, 28, 26, 57, 2, 58, 23, 4, 8, 15, 27, 6, 30,
    17, 52, 42, 60, 50, 40, 33, 38, 21, 24, 12, 56, 32, 63, 22, 44, 20, 47, 31, 37, 13, 1, 9, 53,
    51, 45, 29, 43, 49, 11, 5, 59, 3, 35, 46, 61, 34, 48, 54
)
# fmt: on


def digits_permutation() -> np.ndarray:
    """The saved pixel permutation (64,) used by the permuted sequential-digits task."""
    return np.asarray(DIGITS_PERMUTATION, dtype=np.int64)


def digits_data(
    permuted: bool,
    test_fraction: float = 0.2,
    limit: int | None = None,
    val_fraction: float | None = None,
) -> dict[str, torch.Tensor]:
    """scikit-learn's 8x8 digits read pixel by pixel: x (64, N, 1) float32 in [0, 1] (pixel/16),
    y (N,) int64; a fixed stratified split (``random_state=0``). ``permuted`` reorders the
    pixels by ``digits_permutation()``. ``limit`` keeps the first ``limit`` samples of each split.
    ``val_fraction`` holds that fraction of the training split out as a validation split
    (stratified, ``random_state=1``), disjoint from the test split; the test split is the same
    with or without it.

    Returns ``{"x_train", "y_train", "x_test", "y_test"}`` (and ``"x_val", "y_val"``).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"digits_data: test_fraction must lie in (0, 1), got {test_fraction}")
    if val_fraction is not None and not 0.0 < val_fraction < 1.0:
        raise ValueError(f"digits_data: val_fraction must lie in (0, 1), got {val_fraction}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"digits_data: limit must be a positive integer or None, got {limit!r}")
    data = load_digits()
    images = data.images.reshape(len(data.images), 64).astype(np.float32) / 16.0
    if permuted:
        images = images[:, digits_permutation()]
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, data.target, test_size=test_fraction, random_state=0, stratify=data.target
    )
    splits = {"train": (x_tr, y_tr), "test": (x_te, y_te)}
    if val_fraction is not None:
        x_tr, x_va, y_tr, y_va = train_test_split(
            x_tr, y_tr, test_size=val_fraction, random_state=1, stratify=y_tr
        )
        splits = {"train": (x_tr, y_tr), "val": (x_va, y_va), "test": (x_te, y_te)}

    def seq(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a.T[:, :, None]))

    out = {}
    for name, (x, y) in splits.items():
        if limit is not None:
            x, y = x[:limit], y[:limit]
        out[f"x_{name}"] = seq(x)
        out[f"y_{name}"] = torch.from_numpy(y.astype(np.int64))
    return out
