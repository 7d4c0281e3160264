"""Gradient theory of the neuron models: SymPy derivations, the hand-derived adjoint, checks
against autograd and finite differences, gradient flow, stability maps and the paper's numbers.

Imports go one way: figures -> analysis -> neurons.
"""
