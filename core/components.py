"""The things plugins register. Plain dataclasses, torch-free.

Heavy parts are referenced as ``"module:attribute"`` strings and imported only when used,
so listing plugins or loading a pack never imports torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def resolve(ref: str) -> Any:
    """Import ``"package.module:attr"`` (or a bare module path) and return the object."""
    module, _, attr = ref.partition(":")
    obj = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class Modality:
    """A kind of data ganforge can learn and generate.

    ``codec`` points to the runtime side, torch-free: a subclass of
    :class:`ganforge.core.codec.Codec` (``"my_package.codec:MyCodec"``), whose docstrings are
    the contract; a module of functions with the same names still works (wrapped with the
    class's defaults). ``data`` points to the torch-side dataset builder used by training;
    ``data_help`` says what it reads.
    """

    name: str
    description: str
    codec: str
    data: str | None = None
    default_family: str | None = None
    #: what ``train --data`` accepts, built-in data sets included (shown by ``train NAME --help``)
    data_help: str = ""


@dataclass(frozen=True)
class ModelFamily:
    """Networks, losses and the export wrapper for one modality (torch side).

    ``factory`` resolves to a class implementing ``ganforge.core.training.family.Family``.
    """

    name: str
    modality: str
    factory: str
    description: str = ""


@dataclass(frozen=True)
class Exporter:
    """Turns a run directory into a pack file. ``export(run_dir, out_path, **options)``."""

    name: str
    export: str
    description: str = ""
    suffix: str = ".onnx"


@dataclass(frozen=True)
class Host:
    """A host adapter (Blender, MIDI bridge, editor server...) — listed by ``ganforge plugins``."""

    name: str
    description: str
    modalities: tuple[str, ...] = ()
    entry: str | None = None


@dataclass(frozen=True)
class Metric:
    """An offline quality measure for one modality: ``fn(samples, reference, **options) -> float``."""

    modality: str
    name: str
    fn: str
    description: str = ""
    lower_is_better: bool = True


@dataclass
class Registry:
    """Everything the loaded plugins registered, with who registered it."""

    modalities: dict[str, Modality] = field(default_factory=dict)
    families: dict[str, ModelFamily] = field(default_factory=dict)
    exporters: dict[str, Exporter] = field(default_factory=dict)
    hosts: dict[str, Host] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)  # "kind:name" -> plugin name
    warnings: list[str] = field(default_factory=list)

    def family_key(self, modality: str, name: str) -> str:
        return family_key(modality, name)


def family_key(modality: str, name: str) -> str:
    """Registry key of a per-modality component (family, metric): ``texture/texture``."""
    return f"{modality}/{name}"


RegisterFn = Callable[[Any], None]
