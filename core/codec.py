"""The codec contract: the runtime side of a modality, in one class (torch-free).

A pack's graph produces arrays; its modality's codec says how to feed the graph from what a user
asks for (``--size 1024x512``, ``--category gem``), how large the result will be before anything
is allocated, how to decode the arrays into images, lines or notes, and how to write them. The
runtime, the CLI and the hosts (Blender, the editor server, the MIDI bridge) talk to a pack's
codec only through this class, so a plugin author reads what a codec must and may do here.

A codec subclasses :class:`Codec`, implements the four abstract methods and overrides the
optional ones it needs; every optional method has a working default. A codec whose module
already holds the functions (the built-ins) writes ``class MyCodec(Codec, functions=globals())``:
the module's functions named like the methods become the class's. A modality registers it
as ``Modality(name, ..., codec="my_package.codec:MyCodec")`` (a class, instantiated once per
plugin load, or an instance). A codec written before this class existed — a bare module with
``resolve_dims``, ``output_bytes``, ``decode``, ``write`` and optional functions of the same
names, ``GENERATE_OPTIONS``, ``TRAIN_OPTIONS`` and ``EVAL_SAMPLES`` — still works: it is wrapped
in a :class:`ModuleCodec` that fills in the defaults.

Every method receives the pack's :class:`~ganforge.core.pack.PackMeta` (its ``decoder`` holds the
modality's own settings) and ``options``: the generate options by name (CLI: the codec's
``generate_options``; Python: ``runtime.load(p).generate(seed, count, **options)``).
"""

from __future__ import annotations

import types
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .errors import GanforgeError
from .pack import PackMeta
from .tiling import TilePlan

#: What ``decode`` returns, by ``Codec.output_kind``; hosts ask for a kind, never a modality.
OUTPUT_KINDS: dict[str, str] = {
    "image": "float32 (N, H, W, C) in [0, 1], C in 1, 3, 4, straight alpha, top-left origin",
    "lines": "a numpy object array of str, one line per item",
    "notes": "uint8 velocities (N, tracks, steps, pitches), 0 = silent",
    "data": "anything else: only the codec's own write/echo understand it",
}


class Codec(ABC):
    """The runtime side of one modality. Subclass it; see the module docstring.

    Class attributes are declarations the CLI and hosts read; methods are what the runtime calls.
    """

    #: What :meth:`decode` returns (a key of :data:`OUTPUT_KINDS`), so a host can ask "does this
    #: pack make images?" without knowing the modality's name.
    output_kind: ClassVar[str] = "data"
    #: Whether the host chooses each image's width and height, as ``options["size"] = (W, H)``
    #: (textures); ``False``: the pack's fixed size (sprites).
    sized: ClassVar[bool] = False
    #: click options ``ganforge generate`` adds for this modality; their values reach the codec
    #: in ``options`` under each option's ``name``. A name the command already has is ignored.
    generate_options: ClassVar[Sequence[Any]] = ()
    #: click options ``ganforge train NAME`` adds: one named like a shared option (``crop``,
    #: ``batch``) replaces it; the others' values go to the run's data options.
    train_options: ClassVar[Sequence[Any]] = ()
    #: How many items ``ganforge eval`` generates when ``--samples`` is not given.
    eval_sample_count: ClassVar[int] = 1000

    def __init_subclass__(cls, functions: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        """``class MyCodec(Codec, functions=globals())``: the module's functions named like this
        class's methods become the subclass's (static) methods, and its ``GENERATE_OPTIONS``,
        ``TRAIN_OPTIONS``, ``EVAL_SAMPLES`` its declarations — one list of names, here, instead
        of each codec repeating them. What the class body defines itself wins."""
        super().__init_subclass__(**kwargs)
        for name, value in contract_from(functions or {}).items():
            if name not in cls.__dict__:
                setattr(cls, name, staticmethod(value) if callable(value) else value)

    # ---- required ------------------------------------------------------------------------------
    @abstractmethod
    def resolve_dims(self, meta: PackMeta, options: dict[str, Any]) -> dict[str, int]:
        """Values of the pack's symbolic input dims (besides ``batch``) for these options;
        raises :class:`GanforgeError` (one line) for an option the pack cannot honour."""

    @abstractmethod
    def output_bytes(self, meta: PackMeta, dims: dict[str, int], count: int) -> int:
        """Bytes of the decoded result for ``count`` items: the runtime refuses, before running,
        a request over its output bound."""

    @abstractmethod
    def decode(self, outputs: list[np.ndarray], meta: PackMeta, options: dict[str, Any]) -> Any:
        """The graph's outputs (in metadata order, batch first) -> the result (see
        :attr:`output_kind`). Must work on any batch slice: the runtime decodes in parts."""

    @abstractmethod
    def write(self, decoded: Any, out: Path, options: dict[str, Any]) -> list[Path]:
        """Write a decoded result to ``out`` (a file name or an existing folder); return the
        paths written. The runtime deletes them all when one fails."""

    # ---- optional: checking and running --------------------------------------------------------
    def validate(self, meta: PackMeta, source: str = "pack") -> None:
        """Refuse (``PackError`` naming ``source``) decoder settings that would make the other
        methods fail or allocate absurdly; called once when a pack is opened. Default: none."""
        return None

    def graph_output_bytes(self, meta: PackMeta, dims: dict[str, int], count: int) -> int:
        """Bytes of the graph's own output, when it differs from the decoded result's (a grey
        texture decodes to RGB); the runtime sizes working memory from it. Default:
        :meth:`output_bytes`."""
        return self.output_bytes(meta, dims, count)

    def tile_plan(self, meta: PackMeta, dims: dict[str, int], budget_bytes: int,
                  work_bytes: Callable[[dict[str, int]], int]) -> TilePlan | None:
        """How to generate one item in tiles whose working memory fits ``budget_bytes``
        (``work_bytes(window dims)`` measures one); ``None``: the pack cannot be tiled. Default:
        ``None``, so an item over the tile budget runs whole (or is refused)."""
        return None

    def scalars(self, meta: PackMeta, options: dict[str, Any]) -> dict[str, Any]:
        """Host-given graph inputs derived from the options (images: ``category`` -> ``label``).
        Default: none."""
        return {}

    def feeds(self, runtime: Any, seed: int, count: int, dims: dict[str, int], values: dict[str, Any],
              options: dict[str, Any]) -> dict[str, np.ndarray] | None:
        """Graph inputs the codec builds itself for some options (images: an ``interpolate``
        strip, through ``runtime.interpolation_feeds``); ``None``: the runtime's seeded draw.
        Default: ``None``."""
        return None

    def compose(self, runtime: Any, seed: int, count: int, dims: dict[str, int], values: dict[str, Any],
                options: dict[str, Any]) -> list[np.ndarray] | None:
        """Graph outputs the codec builds from several runs of the graph, for options one run
        cannot serve (music: an interpolation across bars, each bar continuing the one before);
        the runtime decodes them as it would one run's. ``None``: the ordinary run(s). Default:
        ``None``."""
        return None

    # ---- optional: output --------------------------------------------------------------------
    def echo(self, decoded: Any, stream: Any = None) -> None:
        """Print a result (``ganforge generate`` without ``-o``). Only codecs that override it
        print; :meth:`provides` tells. Default: refuses."""
        raise GanforgeError("this modality writes files: give -o/--out")

    def image_size(self, meta: PackMeta, options: dict[str, Any]) -> tuple[int, int] | None:
        """``(width, height)`` of each decoded image for these options (``{}``: the pack's
        default); ``None`` when the codec does not make images. Default: ``None``."""
        return None

    def summary(self, meta: PackMeta) -> list[tuple[str, str]]:
        """``(label, value)`` rows about the pack's decoder settings, for hosts' info panels
        (textures: default size, size step, tileable). Default: none."""
        return []

    # ---- optional: evaluation (``ganforge eval``) ----------------------------------------------
    def load_reference(self, path: str | Path, meta: PackMeta) -> Any:
        """Real data to score a pack against, read the way training reads it. Default: refuses
        (``ganforge eval`` then says the modality has no offline metrics)."""
        raise GanforgeError(f"{meta.modality!r} packs have no reference data reader")

    def eval_samples(self, runtime: Any, reference: Any, count: int, seed: int, **options: Any) -> Any:
        """``count`` generated items to score (images: the reference's category mix). Default:
        ``runtime.generate(seed, count, **options)``."""
        return runtime.generate(seed, count, **options)

    def eval_report(self, generated: Any, reference: Any, seed: int) -> dict[str, Any]:
        """Numbers added to ``ganforge eval``'s report (textures: the photos' baselines).
        Default: none."""
        return {}

    def sweep(self, runtime: Any, reference: Any, png: Path, samples: int = 1000, seed: int = 0,
              training: Any = None) -> list[dict[str, Any]]:
        """``ganforge eval --sweep``: scores across a sampling setting, plotted to ``png`` (text:
        temperatures). Default: refuses."""
        raise GanforgeError(f"--sweep does not apply to {runtime.meta.modality} packs ({runtime.path})")

    # ---- introspection -------------------------------------------------------------------------
    def provides(self, name: str) -> bool:
        """Whether this codec implements the optional method ``name`` itself rather than
        inheriting the default (``echo``, ``load_reference``, ``sweep``...): the CLI offers a
        feature only where a codec provides it."""
        impl = getattr(self, name, None)
        if impl is None:
            return False
        return getattr(impl, "__func__", impl) is not getattr(Codec, name, None)


_REQUIRED = ("resolve_dims", "output_bytes", "decode", "write")
_OPTIONAL = ("validate", "graph_output_bytes", "tile_plan", "scalars", "feeds", "compose", "echo", "image_size",
             "summary", "load_reference", "eval_samples", "eval_report", "sweep")
_DECLARATIONS = {"GENERATE_OPTIONS": "generate_options", "TRAIN_OPTIONS": "train_options",
                 "EVAL_SAMPLES": "eval_sample_count", "OUTPUT_KIND": "output_kind", "SIZED": "sized"}


def contract_from(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The codec contract's parts in a module's namespace, by the class's names: functions named
    like :class:`Codec`'s methods, and the upper-case declarations (``GENERATE_OPTIONS`` ->
    ``generate_options``...)."""
    found = {n: namespace[n] for n in _REQUIRED + _OPTIONAL if callable(namespace.get(n))}
    found.update({lower: namespace[upper] for upper, lower in _DECLARATIONS.items() if upper in namespace})
    return found


class ModuleCodec(Codec):
    """A codec written as a module of functions (the contract before :class:`Codec`), with the
    class's defaults for what the module leaves out. Kept because a wrapper is all it costs."""

    def __init__(self, module: types.ModuleType) -> None:
        missing = [n for n in _REQUIRED if not callable(getattr(module, n, None))]
        if missing:
            raise GanforgeError(f"codec module {module.__name__!r} lacks {', '.join(missing)}")
        self.module = module
        # Instance attributes shadow the class's methods; module functions take no ``self``.
        for name, value in contract_from(vars(module)).items():
            setattr(self, name, value)

    # Never called: __init__ puts the module's functions in their place.
    def resolve_dims(self, meta: PackMeta, options: dict[str, Any]) -> dict[str, int]:
        raise NotImplementedError

    def output_bytes(self, meta: PackMeta, dims: dict[str, int], count: int) -> int:
        raise NotImplementedError

    def decode(self, outputs: list[np.ndarray], meta: PackMeta, options: dict[str, Any]) -> Any:
        raise NotImplementedError

    def write(self, decoded: Any, out: Path, options: dict[str, Any]) -> list[Path]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"ModuleCodec({self.module.__name__})"


def as_codec(obj: Any, ref: str = "codec") -> Codec:
    """What a modality's ``codec`` reference resolved to, as a :class:`Codec`: an instance as
    is, a subclass instantiated, a module wrapped in :class:`ModuleCodec`."""
    if isinstance(obj, Codec):
        return obj
    if isinstance(obj, type) and issubclass(obj, Codec):
        return obj()
    if isinstance(obj, types.ModuleType):
        return ModuleCodec(obj)
    raise GanforgeError(f"{ref} is a {type(obj).__name__}, not a ganforge.core.codec.Codec")


__all__ = ["OUTPUT_KINDS", "Codec", "ModuleCodec", "as_codec", "contract_from"]
