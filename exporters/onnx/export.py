"""Export a trained generator to a generator pack: one self-contained, parity-checked .onnx file.

torch.onnx's dynamo exporter (opset 20: circular padding becomes ``Pad(mode="wrap")``, which
exists from opset 19) with dynamic batch and spatial axes, metadata from
:class:`ganforge.core.pack.PackMeta`, ``onnx.checker``, a parity check against PyTorch and a
load through the torch-free runtime, all on a temporary file in the target folder that is
renamed into place only when every check passed. Nothing partial is left behind.
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganforge.core import __version__
from ganforge.core.atomic import probe_writable, scratch_path, write_atomic
from ganforge.core.display import a_model
from ganforge.core.errors import PackError
from ganforge.core.pack import PackMeta

from .metadata import set_metadata
from .parity import TOLERANCE, check_parity
from .rewrites import channel_means_as_matmul

OPSET = 20
EXAMPLE_BATCH = 2  # a batch of 1 would let the exporter fix the batch axis to 1


@dataclass
class ExportReport:
    path: Path
    meta: PackMeta
    parity: list[dict[str, Any]]
    parity_max_abs_err: float
    seconds: float
    bytes: int
    precision: str = "float32"
    int8_psnr_db: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "precision": self.precision, "bytes": self.bytes,
                "seconds": round(self.seconds, 2), "parity_max_abs_err": self.parity_max_abs_err,
                "parity": self.parity, "int8_psnr_db": self.int8_psnr_db, "notes": self.notes}


def _dynamic_shapes(family: Any, names: list[str]) -> tuple[dict[int, Any], ...]:
    """``family.dynamic_axes()`` as torch.export dims, one shared Dim per symbolic name."""
    from torch.export import Dim

    axes = family.dynamic_axes()
    dims: dict[str, Any] = {}
    shapes = []
    for name in names:
        spec = {}
        for axis, sym in axes.get(name, {}).items():
            if sym not in dims:
                dims[sym] = Dim(sym, min=1)
            spec[axis] = dims[sym]
        shapes.append(spec)
    return tuple(shapes)


def peak_activation_ratio(module: Any, inputs: tuple[Any, ...]) -> float:
    """Largest intermediate tensor over the output's size, measured on ``inputs``.

    Stored in the pack so the runtime's memory guard can estimate the working memory of a size
    it has never run (fully convolutional generators scale linearly with the output).
    """
    import torch

    largest = [0]

    def hook(_mod: Any, _inp: Any, out: Any) -> None:
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                largest[0] = max(largest[0], t.numel())

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    try:
        with torch.no_grad():
            out = module(*inputs)
    finally:
        for h in handles:
            h.remove()
    out = out if isinstance(out, (tuple, list)) else (out,)
    total = sum(t.numel() for t in out)
    return round(max(largest[0], total) / total, 3)


def _to_onnx(module: Any, example: tuple[Any, ...], family: Any, in_names: list[str],
             out_names: list[str]) -> Any:
    import torch

    # The exporter's chatter (missing torchvision ops, deprecations) is not the user's business.
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module, example, None, dynamo=True, external_data=False, opset_version=OPSET,
                input_names=in_names, output_names=out_names,
                dynamic_shapes=_dynamic_shapes(family, in_names), verbose=False, report=False,
            )
    finally:
        quiet.setLevel(level)
    return program.model_proto


def export_generator(family: Any, generator: Any, out_path: str | Path, *, facts: dict[str, Any],
                     license: str = "unspecified", int8: bool = False, modality: str | None = None,
                     family_name: str | None = None, tolerance: float = TOLERANCE) -> ExportReport:
    """Export ``generator`` (a module of ``family``, moved to CPU float32 in place) to ``out_path``.

    ``facts`` go to ``ganforge.train`` (data name, steps, seed, metrics...); the export adds the
    parity errors, the date and the activation ratio. ``int8=True`` quantises the checked
    float32 graph (see :mod:`.quantize`). Raises a GanforgeError naming the file on failure,
    leaving no file behind.
    """
    import onnx
    import torch

    started = time.perf_counter()
    out_path = Path(out_path)
    if not out_path.parent.is_dir():
        raise PackError(f"{out_path}: folder {out_path.parent} does not exist")
    if out_path.is_dir():
        raise PackError(f"{out_path}: is a folder; give the pack's file name (e.g. {out_path / 'model.onnx'})")
    probe_writable(out_path.parent, what=str(out_path))  # before the export's tens of seconds
    modality = modality or getattr(family, "modality", None)
    family_name = family_name or getattr(family, "name", None) or modality
    if not modality:
        raise ValueError("export_generator needs the modality name (family.modality or modality=...)")

    if int8 and not getattr(family, "supports_int8", False):
        raise PackError(f"{out_path}: --int8 is for texture packs; this is {a_model(modality)} "
                        "(export it without --int8)")
    module = family.export_module(generator).eval().to(device="cpu", dtype=torch.float32)
    broken = [name for name, t in module.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if broken:  # a diverged run (--lr inf, an exploding loss): its pack would render black
        raise PackError(f"{out_path}: the generator has non-finite weights ({broken[0]}"
                        f"{f' and {len(broken) - 1} more' if len(broken) > 1 else ''}); the run diverged, "
                        "export refused (export an earlier checkpoint or retrain with a lower --lr)")
    in_specs, out_specs = family.pack_inputs(), family.pack_outputs()
    in_names, out_names = [s.name for s in in_specs], [s.name for s in out_specs]
    example = family.example_inputs(EXAMPLE_BATCH, family.export_dims())
    try:
        model = _to_onnx(module, example, family, in_names, out_names)
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise PackError(f"{out_path}: the generator could not be exported to ONNX ({first[:200]})") from e

    if not int8:  # the int8 quantiser starts from the plain graph (see channel_means_as_matmul)
        channel_means_as_matmul(model)
    parity = check_parity(model.SerializeToString(), module, family, source=out_path, tolerance=tolerance)
    err = max(c.max_abs_err for c in parity)
    train = {**facts, "parity_max_abs_err": err, "parity_tolerance": tolerance,
             "peak_activation_ratio": peak_activation_ratio(module, example),
             "exported": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
             "exporter": f"torch {torch.__version__.split('+')[0]}, onnx opset {OPSET}"}
    meta = PackMeta(modality=modality, inputs=in_specs, outputs=out_specs,
                    decoder=family.calibrated_decoder(family.decoder_settings(), facts.get("metrics") or {}),
                    train=train, license=license,
                    family=family_name or "", version=__version__, precision="float32")
    meta.validate(str(out_path))
    set_metadata(model, meta)
    model.doc_string = f"ganforge {modality} generator pack ({family_name})"
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        first = (str(e).strip().splitlines() or ["invalid model"])[0]
        raise PackError(f"{out_path}: the exported graph fails onnx.checker ({first[:200]})") from e

    report = ExportReport(out_path, meta, [c.to_json() for c in parity], err, 0.0, 0)

    def save(tmp: str) -> None:
        if not int8:
            onnx.save_model(model, tmp, save_as_external_data=False)
            _check_loads(Path(tmp), out_path)
            return
        from .quantize import quantize_pack

        with scratch_path(out_path) as float_tmp:  # the checked float32 pack the quantiser starts from
            onnx.save_model(model, str(float_tmp), save_as_external_data=False)
            _check_loads(float_tmp, out_path)
            q = quantize_pack(float_tmp, tmp, source=out_path)
        _check_loads(Path(tmp), out_path)
        report.meta, report.precision, report.int8_psnr_db = q.meta, "int8", q.psnr_db
        report.notes.extend(q.notes)

    write_atomic(out_path, save)
    report.bytes = out_path.stat().st_size
    report.seconds = time.perf_counter() - started
    return report


def _check_loads(tmp: Path, out_path: Path) -> None:
    """The written file must open in the torch-free runtime exactly as a host will open it."""
    from ganforge.core.runtime import load

    try:
        load(tmp, device="cpu", threads=1)
    except PackError as e:
        raise PackError(str(e).replace(str(tmp), str(out_path))) from None


def export_pack(run_dir: str | Path, out_path: str | Path, *, int8: bool = False,
                license: str = "unspecified", checkpoint: str = "last") -> ExportReport:
    """Export the EMA generator of a training run to a pack (the ``onnx`` exporter's entry).

    ``checkpoint``: ``"last"`` (newest), ``"best"`` (by the family's metric) or a kept step number.
    """
    from ganforge.core.training.run import load_for_export

    bundle = load_for_export(Path(run_dir), checkpoint=checkpoint)
    return export_generator(bundle.family, bundle.generator, out_path, facts=dict(bundle.facts),
                            license=license, int8=int8, modality=bundle.config.modality,
                            family_name=bundle.config.family)
