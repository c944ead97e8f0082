"""The generator-pack schema: what a host needs to feed and decode an ONNX generator.

A pack is one self-contained ``.onnx`` file. Its ``metadata_props`` hold JSON values under
the keys below (schema "1"). This module is torch-free and onnx-free: it reads metadata through
onnxruntime (hosts have it) and validates it; writing happens in the exporter.

Inputs are drawn by the runtime **in the order listed** from
``numpy.random.Generator(numpy.random.PCG64(seed))``, one item at a time: item ``i`` of a batch
generated with seed ``s`` is exactly what seed ``s + i`` gives alone. Per input, by ``draw``:

- ``normal``   -> ``rng.standard_normal(shape, dtype=float32)``
- ``uniform``  -> ``rng.random(shape, dtype=float32)``
- ``gumbel``   -> ``-log(-log(u))`` with ``u = rng.random(shape, dtype=float32)`` clipped to
  ``[1e-6, 1 - 1e-6]``
- ``field``    -> a smooth normal field over the last two axes (..., h, w): one
  ``rng.standard_normal((..., gh, gw), dtype=float32)`` coarse grid, ``gh = max(1, round(h / cell))``
  with ``cell = default``, blended periodically (``ganforge.core.fields.draw_field``); every entry
  is N(0, 1) and the field wraps around, so a texture driven by it still tiles
- ``scalar``   -> not drawn: the host passes a value (default ``default``), shape ``[batch]`` or ``[]``
- ``condition`` -> not drawn: the host passes it (e.g. the previous bar); zeros when absent

A shape lists ints and symbolic names: ``"batch"`` is the item axis; other names (``"h"``, ``"w"``)
are resolved by the modality's codec from what the user asked for (e.g. ``--size``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import PackError

SCHEMA_VERSION = "1"
KNOWN_SCHEMAS = ("1",)
PREFIX = "ganforge."
DRAWS = ("normal", "uniform", "gumbel", "field", "scalar", "condition")
DTYPES = ("float32", "float16", "int64", "int32", "bool")


def _finite_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


@dataclass
class InputSpec:
    name: str
    shape: list[int | str]
    dtype: str = "float32"
    draw: str = "normal"
    meaning: str = ""
    default: Any = None


@dataclass
class OutputSpec:
    name: str
    layout: str  # e.g. "NCHW"
    range: list[float] = field(default_factory=lambda: [-1.0, 1.0])
    meaning: str = ""


@dataclass
class PackMeta:
    """Everything under ``ganforge.*`` in a pack's metadata."""

    modality: str
    inputs: list[InputSpec]
    outputs: list[OutputSpec]
    decoder: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    license: str = "unspecified"
    family: str = ""
    version: str = ""
    schema: str = SCHEMA_VERSION
    precision: str = "float32"  # or "int8"

    # ---- (de)serialisation -------------------------------------------------------------
    def to_props(self) -> dict[str, str]:
        """The ``metadata_props`` key/value strings (values are JSON)."""
        d = asdict(self)
        return {PREFIX + k: json.dumps(v, sort_keys=True) for k, v in d.items()}

    @classmethod
    def from_props(cls, props: dict[str, str], source: str = "pack") -> PackMeta:
        """Parse and validate metadata; raises PackError naming ``source`` on any problem."""
        if PREFIX + "schema" not in props:
            raise PackError(f"{source}: not a ganforge pack (no 'ganforge.schema' in its metadata)")
        try:
            raw = {k[len(PREFIX):]: json.loads(v) for k, v in props.items() if k.startswith(PREFIX)}
        except json.JSONDecodeError as e:
            raise PackError(f"{source}: pack metadata is not valid JSON ({e.msg})") from None
        except RecursionError:  # "[[[[...]]]]" 100,000 deep: a hostile file, not a pack
            raise PackError(f"{source}: pack metadata is nested too deeply") from None
        schema = str(raw.get("schema"))
        if schema not in KNOWN_SCHEMAS:
            raise PackError(
                f"{source}: pack schema version {schema!r} is not supported by this ganforge "
                f"(knows {', '.join(KNOWN_SCHEMAS)}); upgrade ganforge"
            )
        for key in ("modality", "inputs", "outputs"):
            if key not in raw:
                raise PackError(f"{source}: pack metadata lacks 'ganforge.{key}'")
        if not isinstance(raw["inputs"], list) or not isinstance(raw["outputs"], list) or not all(
                isinstance(x, dict) for x in raw["inputs"] + raw["outputs"]):
            raise PackError(f"{source}: 'ganforge.inputs' and 'ganforge.outputs' must be lists of objects")
        try:
            inputs = [InputSpec(**i) for i in raw["inputs"]]
            outputs = [OutputSpec(**o) for o in raw["outputs"]]
            known = set(cls.__dataclass_fields__)
            meta = cls(**{k: v for k, v in raw.items() if k in known and k not in ("inputs", "outputs")},
                       inputs=inputs, outputs=outputs)
        except TypeError as e:
            raise PackError(f"{source}: malformed pack metadata ({e})") from None
        meta.validate(source)
        return meta

    def validate(self, source: str = "pack") -> None:
        if not isinstance(self.modality, str) or not self.modality:
            raise PackError(f"{source}: 'ganforge.modality' must be a non-empty string")
        if not self.inputs or not self.outputs:
            raise PackError(f"{source}: a pack needs at least one input and one output")
        names = [spec.name for spec in self.inputs] + [spec.name for spec in self.outputs]
        if not all(isinstance(n, str) and n for n in names):
            raise PackError(f"{source}: every input and output needs a non-empty string name (got {names!r})")
        for spec in self.inputs:
            if spec.draw not in DRAWS:
                raise PackError(f"{source}: input {spec.name!r} has unknown draw {spec.draw!r}")
            if spec.dtype not in DTYPES:
                raise PackError(f"{source}: input {spec.name!r} has unsupported dtype {spec.dtype!r}")
            if not isinstance(spec.shape, list) or not all(
                (isinstance(d, int) and 0 < d < 1 << 20) or (isinstance(d, str) and d) for d in spec.shape
            ):
                raise PackError(f"{source}: input {spec.name!r} has an invalid shape {spec.shape!r}")
            if spec.draw == "field" and not (isinstance(spec.default, int) and not isinstance(spec.default, bool)
                                             and 0 < spec.default < 1 << 20 and len(spec.shape) >= 2):
                raise PackError(f"{source}: field input {spec.name!r} needs a positive integer cell size as its "
                                f"default and at least two axes (got default {spec.default!r}, shape {spec.shape!r})")
        for spec in self.outputs:
            r = spec.range
            if not (isinstance(r, list) and len(r) == 2 and all(_finite_number(v) for v in r) and r[0] < r[1]):
                raise PackError(f"{source}: output {spec.name!r} has an invalid range {r!r} (want [low, high])")
            if not isinstance(spec.layout, str):
                raise PackError(f"{source}: output {spec.name!r} has an invalid layout {spec.layout!r}")
        if not isinstance(self.decoder, dict) or not isinstance(self.train, dict):
            raise PackError(f"{source}: 'ganforge.decoder' and 'ganforge.train' must be objects")
        ratio = self.train.get("peak_activation_ratio", 1.0)
        if not (_finite_number(ratio) and 0 < ratio < 1e6):
            raise PackError(f"{source}: 'peak_activation_ratio' must be a positive number (got {ratio!r})")
        for key in ("license", "family", "version", "precision"):
            if not isinstance(getattr(self, key), str):
                raise PackError(f"{source}: 'ganforge.{key}' must be a string")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def open_session(path: str | Path, options: Any = None, providers: list[str] | None = None) -> Any:
    """Open an onnxruntime session on a pack file; PackError naming the file if it is not one.

    The runtime passes its real session options and providers, so one session serves both
    metadata reading and generation (a pack is parsed once).
    """
    path = Path(path)
    if not path.is_file():
        raise PackError(f"{path}: no such pack file")
    from .limits import import_onnxruntime

    ort = import_onnxruntime()  # local: keeps `ganforge --help` fast

    if options is None:
        options = ort.SessionOptions()
        options.log_severity_level = 4
        # Graph optimisation off: the cheapest way to validate the protobuf and read metadata.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    from .onnx_scan import ScanError, external_tensors

    try:
        data = path.read_bytes()
    except OSError as e:
        raise PackError(f"{path}: cannot read the pack ({e.strerror or e})") from None
    try:
        external = external_tensors(data)
    except ScanError as e:
        raise PackError(f"{path}: not a readable ONNX pack ({e})") from None
    if external:  # a pack is one self-contained file: never let it name another file to read
        raise PackError(f"{path}: tensor {external[0]!r} refers to external data; a pack must be one "
                        "self-contained file, so it is refused")
    try:
        # From bytes: there is no model folder from which a reference could be resolved either.
        return ort.InferenceSession(data, options, providers=providers or ["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises several types for truncated/garbage files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PackError(f"{path}: not a readable ONNX pack ({first[:160]})") from None


def session_props(session: Any) -> dict[str, str]:
    """The ``metadata_props`` of an open onnxruntime session."""
    return dict(session.get_modelmeta().custom_metadata_map)


def read_props(path: str | Path) -> dict[str, str]:
    """Read ``metadata_props`` of an ONNX file through onnxruntime (no torch, no onnx)."""
    return session_props(open_session(path))


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
