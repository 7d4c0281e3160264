"""The gradient-stability neurons of 2021-2024 (``docs/catalogue.md``), one module each.

Every module of this package is imported here (``pkgutil``), so each model registers itself
(``@register``) when ``lstmlif.neurons`` is imported; adding a model is adding a file. The
neurons of the catalogue have ``group = "catalogue"`` (``model_names("catalogue")`` lists
them); the plain NIR neurons of ``nir_models`` have ``group = "nir"``.
"""

from __future__ import annotations

import importlib
import pkgutil

__all__: list[str] = []

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
