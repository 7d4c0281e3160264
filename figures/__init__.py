"""Figures: one module per figure; ``lstmlif figures`` (or ``python -m lstmlif.figures``) makes
them all."""
