"""Forward-in-time gradient rules for a layer of any registered neuron model.

Each rule is generated from the partial derivatives SymPy takes of the model's step
(``neurons.derivatives``), the same partials the NumPy adjoint (``analysis.adjoint``) runs on.
"""
