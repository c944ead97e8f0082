"""Everything a plugin author imports, from one module: ``from ganforge.core.api import ...``.

- registering: :data:`hookimpl` (decorate functions named after the hooks in
  :mod:`ganforge.core.hookspecs`) and the components they register — :class:`Modality`,
  :class:`ModelFamily`, :class:`Exporter`, :class:`Host`, :class:`Metric`;
- the runtime side of a modality: :class:`Codec` (torch-free), with :class:`PackMeta`,
  :class:`InputSpec`, :class:`OutputSpec` (what a pack declares) and :class:`TilePlan`;
- the training side: :class:`Family` (torch; imported only when asked for, so a plugin that
  imports this module to register stays torch-free);
- errors that reach the user as one ``error:`` line: :class:`GanforgeError`, :class:`PackError`,
  :class:`DataError`, :class:`RunError`.

The README's "Writing a plugin" walks through them. Importing this module never imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .codec import OUTPUT_KINDS, Codec
from .components import Exporter, Host, Metric, Modality, ModelFamily, resolve
from .errors import DataError, GanforgeError, PackError, RunError
from .hookspecs import hookimpl
from .pack import InputSpec, OutputSpec, PackMeta
from .tiling import TilePlan

if TYPE_CHECKING:
    from .training.family import Family, StepContext

#: Names served lazily: importing them here would import torch for every plugin.
_LAZY = {"Family": ("ganforge.core.training.family", "Family"),
         "StepContext": ("ganforge.core.training.family", "StepContext")}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "OUTPUT_KINDS", "Codec", "DataError", "Exporter", "Family", "GanforgeError", "Host", "InputSpec", "Metric",
    "Modality", "ModelFamily", "OutputSpec", "PackError", "PackMeta", "RunError", "StepContext", "TilePlan", "hookimpl",
    "resolve",
]
