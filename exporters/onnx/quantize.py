"""Static int8 quantisation of a checked float32 conv-generator pack (onnxruntime.quantization).

Calibration inputs are drawn exactly as the runtime draws them (same contract, seeds set apart
from the evaluation seeds), weights are quantised per output channel, the format is QOperator
(``QLinearConv`` and friends, the fastest path of onnxruntime's CPU kernels). The result is
measured against the float32 pack on fresh seeds: its PSNR is stored in the pack and a pack
under :data:`MIN_PSNR_DB` is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganforge.core.errors import PackError
from ganforge.core.pack import PackMeta

from .metadata import set_metadata
from .rewrites import channel_means_as_matmul, hoist_quantize_over_copies, widen_narrow_convs

MIN_PSNR_DB = 30.0
TARGET_PSNR_DB = 40.0
CALIBRATION_SEED = 1_000_000  # calibration and evaluation seeds never overlap user seeds 0..n
EVALUATION_SEED = 2_000_000
CALIBRATION_PERCENTILE = 99.99
#: Ops run in int8. Convs carry the cost; wrap-Pad and nearest Resize are exact on int8 and move
#: a quarter of the bytes. LeakyReLU, PixelNorm's Mul and Concat stay float32: quantising them
#: cost 2-9 dB of PSNR on texture generators for no speed gain (measured, see the exporter notes).
QUANTIZED_OPS = ["Conv", "Pad", "Resize"]


@dataclass
class QuantResult:
    path: Path
    meta: PackMeta
    psnr_db: float
    notes: list[str] = field(default_factory=list)


def psnr_db(reference: np.ndarray, test: np.ndarray, peak: float) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` when identical)."""
    mse = float(np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over runtime-drawn inputs."""

    def __init__(self, runtime: Any, dims: dict[str, int], samples: int) -> None:
        self._items = iter(range(samples))
        self._runtime, self._dims = runtime, dims

    def get_next(self) -> dict[str, np.ndarray] | None:
        i = next(self._items, None)
        return None if i is None else self._runtime.draw_inputs(CALIBRATION_SEED + i, 1, self._dims)


def _rewrite(path: Path, *rewrites: Callable[[Any], int]) -> None:
    """Apply graph rewrites (see :mod:`.rewrites`) to the model file at ``path``."""
    import onnx

    model = onnx.load(str(path))
    if sum(rewrite(model) for rewrite in rewrites):
        onnx.save_model(model, str(path))


def measure_psnr(float_path: str | Path, int8_path: str | Path, *, options: dict[str, Any] | None = None,
                 seeds: int = 4) -> float:
    """PSNR (dB) of the int8 pack's raw output against the float32 pack's, on fresh seeds.

    The peak is the width of the declared output range (2 for ``[-1, 1]``), i.e. the PSNR of
    the decoded images. Public so a benchmark can measure any pair of packs.
    """
    from ganforge.core.runtime import load

    ref, test = load(float_path, device="cpu"), load(int8_path, device="cpu")
    dims = ref.codec.resolve_dims(ref.meta, dict(options or {}))
    lo, hi = ref.meta.outputs[0].range
    a, b = [], []
    for i in range(seeds):
        feeds = ref.draw_inputs(EVALUATION_SEED + i, 1, dims)
        a.append(ref.run(feeds)[0])
        b.append(test.run(feeds)[0])
    return psnr_db(np.concatenate(a), np.concatenate(b), float(hi) - float(lo))


def quantize_pack(float_path: str | Path, out_path: str | Path, *, source: str | Path | None = None,
                  options: dict[str, Any] | None = None, samples: int = 16, per_channel: bool = True,
                  min_psnr_db: float | None = None) -> QuantResult:
    """Quantise the float32 pack ``float_path`` into ``out_path`` (int8 weights and activations).

    ``options`` are codec options for the calibration and evaluation shape (default: the
    pack's default size). Raises PackError naming ``source`` when the PSNR is under
    ``min_psnr_db`` (default :data:`MIN_PSNR_DB`); ``out_path`` is then left as the caller's temporary file to remove.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    from ganforge.core.runtime import load

    source = source or out_path
    runtime = load(float_path, device="cpu")
    dims = runtime.codec.resolve_dims(runtime.meta, dict(options or {}))
    with tempfile.TemporaryDirectory(prefix=".ganforge-int8-", dir=Path(out_path).parent) as work:
        pre = Path(work) / "pre.onnx"
        # Folds constants and fuses ops so the quantiser sees plain Conv/Pad/Resize chains.
        quant_pre_process(str(float_path), str(pre), skip_symbolic_shape=True)
        _rewrite(pre, widen_narrow_convs)
        graph = onnx.load(str(pre)).graph
        kernels = {t.name: tuple(t.dims[2:]) for t in graph.initializer}
        convs, pointwise = [], []
        for n in graph.node:
            if n.op_type == "Conv":
                # 1×1 convs (a texture's per-pixel noise strengths) take raw normal noise, whose
                # tails a uint8 range clips; they cost almost nothing, so they stay float32
                (pointwise if kernels.get(n.input[1]) == (1, 1) else convs).append(n.name)
        # Quality first: the leading convs run on coarse grids, but their rounding error is
        # upsampled into every pixel. Keep the first k of them in float32, growing k until the
        # PSNR target is met. The last conv is always int8: alone it costs ~9 dB less than the
        # first, while in float32 its one-to-four output channels run onnxruntime's blocked
        # conv at a fraction of its speed. Measured on a trained default texture pack (1024²,
        # 2 threads): first k=5 + last float 41.9 dB at 2.9-3.1x over eager torch; first k=4
        # float 40.5 dB at 3.4-3.7x.
        best: tuple[float, int] | None = None
        for k in range(1, max(len(convs), 2)):
            keep_float = (convs[:k] if len(convs) > 1 else []) + pointwise
            attempt = Path(work) / f"int8_k{k}.onnx"
            with contextlib.redirect_stdout(io.StringIO()):  # the percentile calibrator prints
                quantize_static(
                    str(pre), str(attempt), _Reader(runtime, dims, samples),
                    quant_format=QuantFormat.QOperator, per_channel=per_channel, op_types_to_quantize=QUANTIZED_OPS,
                    nodes_to_exclude=keep_float, calibrate_method=CalibrationMethod.Percentile,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    # clipping the rarest 0.01% of activations halves the rounding step of most
                    # tensors: +1 dB over min-max ranges at the same speed (measured)
                    extra_options={"ActivationSymmetric": False, "WeightSymmetric": True,
                                   "CalibPercentile": CALIBRATION_PERCENTILE},
                )
            _rewrite(attempt, hoist_quantize_over_copies, channel_means_as_matmul)
            psnr_k = measure_psnr(float_path, attempt, options=options)
            if best is None or psnr_k > best[0]:
                best = (psnr_k, len(keep_float) - len(pointwise))
                # out_path is the caller's temporary file (export's write_atomic renames it into
                # place once loaded and checked): this keeps the best attempt, it publishes nothing
                os.replace(attempt, out_path)
            if psnr_k >= TARGET_PSNR_DB:
                break
    assert best is not None
    psnr, kept = best
    min_psnr_db = MIN_PSNR_DB if min_psnr_db is None else min_psnr_db
    if psnr < min_psnr_db:
        raise PackError(f"{source}: int8 quantisation loses too much quality (PSNR {psnr:.1f} dB < "
                        f"{min_psnr_db:g} dB against float32); export without --int8")
    notes = [] if psnr >= TARGET_PSNR_DB else [
        f"int8 PSNR {psnr:.1f} dB is under the {TARGET_PSNR_DB:g} dB target; check the textures"]
    meta = dataclasses.replace(runtime.meta, precision="int8", train={
        **runtime.meta.train, "int8_psnr_db": round(psnr, 2), "int8_calibration_samples": samples,
        "int8_per_channel": per_channel, "int8_float_convs": kept})
    model = onnx.load(str(out_path))
    set_metadata(model, meta)
    onnx.save_model(model, str(out_path), save_as_external_data=False)
    return QuantResult(Path(out_path), meta, psnr, notes)
