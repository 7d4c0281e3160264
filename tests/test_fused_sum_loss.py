"""The fused backward of a sum of spikes: dL/dS is an expanded scalar (every stride 0), which the
backward passes to its kernel as one number instead of a T*B*N array. The gradients must equal
those of the same loss written with a materialised dL/dS (bit for bit: the kernel adds the same
number) and autograd's (float64)."""

from __future__ import annotations

import pytest
import torch

from lstmlif.neurons import model_class, model_names, simulate
from lstmlif.neurons.fused import fused_spikes, kernel_sources

F64 = torch.float64


def _input(name: str, T: int = 40, shape: tuple[int, ...] = (3, 5)) -> torch.Tensor:
    mean, std = model_class(name).input_stats
    torch.manual_seed(1)
    return torch.randn(T, *shape, dtype=F64) * std + mean


def _grad(model, x: torch.Tensor, loss: str, **kw) -> tuple[torch.Tensor, torch.Tensor]:
    xi = x.clone().requires_grad_()
    spikes = fused_spikes(model, xi, **kw)
    if loss == "sum":
        total = spikes.sum()
    else:  # the same loss with dL/dS a real (T, *batch) array of ones
        total = (spikes * torch.ones_like(spikes)).sum()
    (g,) = torch.autograd.grad(total, [xi])
    return spikes.detach(), g


@pytest.mark.parametrize("name", model_names("paper"))
def test_sum_of_spikes_matches_an_explicit_output_gradient(name):
    """The paper's models (the scalar path is one generated line, the same for every model)."""
    cls = model_class(name)
    model = cls(**cls.verify_params)
    x = _input(name)
    spikes, g_sum = _grad(model, x, "sum")
    _, g_ones = _grad(model, x, "ones")
    assert float(spikes.sum()) > 0, "no spikes"
    assert torch.isfinite(g_sum).all() and float(g_sum.abs().max()) > 0
    assert torch.equal(g_sum, g_ones)
    # and autograd through the step, the reference
    xi = x.clone().requires_grad_()
    ref = simulate(model, xi).spikes
    assert torch.equal(ref.detach(), spikes)
    (g_ref,) = torch.autograd.grad(ref.sum(), [xi])
    scale = float(g_ref.abs().max())
    assert float((g_sum - g_ref).abs().max()) <= 1e-10 * max(scale, 1.0)


def test_the_scalar_path_is_the_one_taken_and_checkpoints_agree():
    """The generated backward of a sum reads one number (``gS_1``); with checkpoints (the
    backward in segments) the sum's gradient equals the unsegmented one."""
    cls = model_class("lstmlif")
    model = cls(**cls.verify_params)
    src = kernel_sources(model, F64)["backward"]  # built by a .sum().backward()
    assert "gS_1 = gS[0, 0]" in src and "gS[r, j]" not in src
    x = _input("lstmlif", T=50)
    spikes, g = _grad(model, x, "sum")
    _, g_ck = _grad(model, x, "sum", checkpoint=7)
    assert float(spikes.sum()) > 0 and float(g.abs().max()) > 0
    torch.testing.assert_close(g_ck, g, rtol=1e-12, atol=0)
