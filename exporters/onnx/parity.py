"""Parity: the exported graph must compute what the PyTorch generator computes.

Checked on fresh random inputs at shapes and batch sizes other than the export example, so a
dimension that the exporter froze (batch fixed to the example's, a size baked into a Reshape)
or a padding that lost its wrap-around shows up as an error here, not in a user's texture.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganforge.core.errors import PackError

#: Largest tolerated absolute difference, float32 graph vs eager PyTorch.
TOLERANCE = 1e-4
#: Batch sizes checked: neither is the export example's (2).
BATCHES = (1, 3)


class ParityError(PackError):
    """The exported graph disagrees with the PyTorch generator."""


@dataclass
class ParityCase:
    batch: int
    dims: dict[str, int]
    max_abs_err: float

    def to_json(self) -> dict[str, Any]:
        return {"batch": self.batch, "dims": self.dims, "max_abs_err": self.max_abs_err}


def _session(model: str | Path | bytes) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])


def check_parity(model: str | Path | bytes, module: Any, family: Any, *, source: str | Path = "pack",
                 tolerance: float = TOLERANCE, seed: int = 1234) -> list[ParityCase]:
    """Compare the ONNX ``model`` (path or serialised bytes) with ``module`` (the export wrapper).

    Runs every ``family.parity_dims()`` shape at each of :data:`BATCHES`; raises ParityError
    naming ``source`` when the largest absolute difference exceeds ``tolerance``.
    """
    import torch

    session = _session(model)
    names = [i.name for i in session.get_inputs()]
    cases: list[ParityCase] = []
    for k, dims in enumerate(family.parity_dims()):
        for batch in BATCHES:
            inputs = family.example_inputs(batch, dims, seed=seed + 100 * k + batch)
            with torch.no_grad():
                expected = module(*inputs)
            expected = expected if isinstance(expected, (tuple, list)) else (expected,)
            feeds = dict(zip(names, (t.numpy() for t in inputs), strict=True))
            got = session.run(None, feeds)
            err = 0.0
            for e, g in zip(expected, got, strict=True):
                e = e.numpy()
                if e.shape != g.shape:
                    raise ParityError(f"{source}: exported graph gives shape {g.shape}, PyTorch "
                                      f"{e.shape} (batch {batch}, dims {dims})")
                if not (np.isfinite(e).all() and np.isfinite(g).all()):
                    raise ParityError(f"{source}: the generator outputs non-finite values (NaN or inf) at "
                                      f"batch {batch}, dims {dims}; export refused")
                # np.max propagates NaN where Python's max(err, nan) would keep err
                err = float(np.max([err, np.max(np.abs(e.astype(np.float64) - g))]))
            if not err <= tolerance:
                raise ParityError(f"{source}: exported graph differs from PyTorch by {err:.3g} "
                                  f"(> {tolerance:g}) at batch {batch}, dims {dims}; export refused")
            cases.append(ParityCase(batch, dict(dims), err))
    return cases
