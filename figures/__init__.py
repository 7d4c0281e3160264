"""Figures: one module per figure; ``python -m figures`` or ``lstmlif figures`` makes them all."""
