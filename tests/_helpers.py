"""Helpers shared by several test files (plain functions; pytest puts tests/ on sys.path)."""

from __future__ import annotations

import numpy as np
import torch


def autograd_jacobian(
    model, potentials: dict, current: float = 0.0, device: str = "cpu"
) -> np.ndarray:
    """d x[t] / d x[t-1] of ``model.transition`` by torch autograd in float64, state order
    ``model.state_names``; shape (n, n). (Below threshold the map is affine in x, so the
    current does not enter J.)"""
    names = model.state_names
    x0 = torch.tensor([potentials[n] for n in names], dtype=torch.float64, device=device)
    current_t = torch.tensor(current, dtype=torch.float64, device=device)

    def f(x):
        out = model.transition({n: x[i] for i, n in enumerate(names)}, current_t)
        return torch.stack([out[n] for n in names])

    J = torch.autograd.functional.jacobian(f, x0)
    assert J.device.type == device
    return J.cpu().numpy()


def graph_census(root) -> tuple[int, dict[str, int]]:
    """The number of autograd nodes reachable from ``root`` (a ``grad_fn``) and their count
    by node type."""
    kinds: dict[str, int] = {}
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        kinds[type(node).__name__] = kinds.get(type(node).__name__, 0) + 1
        stack.extend(n for n, _ in node.next_functions)
    return len(seen), kinds
