"""The image modality's offline metrics, as registered ``Metric`` functions (torch-free).

Each takes ``samples`` (N, S, S, C) straight-alpha floats in [0, 1] (what the codec decodes) and
``reference`` (an :class:`~.io.ImageSet` or such an array) and returns a float or a dict with
``value`` and details. Features are computed once per array (a small identity cache), so FD and
KID on the same sets cost one feature pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...metrics import categories as _categories
from ...metrics import features as _features
from ...metrics import frechet as _frechet
from ...metrics import memorisation as _mem
from ...metrics import swd as _swd

_cache: list[tuple[Any, Any]] = []  # (array, result); holding the array keeps its id unique


def _images(x: Any) -> np.ndarray:
    return x.straight() if hasattr(x, "straight") else np.asarray(x, np.float32)


def _cached(key: Any, fn: Any) -> Any:
    for obj, value in _cache:
        if obj is key:
            return value
    value = fn()
    _cache.append((key, value))
    del _cache[:-4]
    return value


def _feats(x: Any) -> np.ndarray:
    return _cached(x, lambda: _features.random_cnn_features(_images(x)))


def fd(samples: Any, reference: Any, **options: Any) -> float:
    return _frechet.frechet_distance(_feats(samples), _feats(reference))


def kid(samples: Any, reference: Any, **options: Any) -> dict[str, Any]:
    mean, std = _frechet.kid(_feats(samples), _feats(reference), seed=int(options.get("seed", 0)))
    return {"value": mean, "std": std}


def swd(samples: Any, reference: Any, **options: Any) -> dict[str, Any]:
    a = _features.premultiplied_rgba(_images(samples))
    b = _features.premultiplied_rgba(_images(reference))
    result = _swd.swd(a, b, seed=int(options.get("seed", 0)))
    return {"value": result.pop("swd"), **result}


def memorisation(samples: Any, reference: Any, **options: Any) -> dict[str, Any]:
    """Nearest neighbours in pixel space (premultiplied RGBA at 32×32), against ``training``
    when given (the images the model was trained on), else the reference."""
    training = options.get("training", reference)

    def prep(x: Any) -> np.ndarray:
        return _features.resize_area(_features.premultiplied_rgba(_images(x)), min(32, _images(x).shape[1]))

    result = _mem.memorisation(prep(samples), prep(training))
    return {"value": result.pop("share"), **result}


def category_measures(samples: Any, sample_labels: np.ndarray | None, reference: Any, seed: int = 0) -> dict[str, Any]:
    """Recognisability, variety inside each category and density/coverage of ``samples`` (asked
    for as ``sample_labels``) against the reference, beside held-out real images' values
    (``floor``), plus the memorisation share of those fresh real images (what the flag reads for
    data that copies nothing): :func:`ganforge.core.metrics.categories.category_report`."""
    real_labels = getattr(reference, "labels", None)
    names = list(getattr(reference, "categories", None) or [])
    k = len(names) if names else (int(real_labels.max()) + 1 if real_labels is not None else 1)
    report = _categories.category_report(_feats(samples), sample_labels, _feats(reference), real_labels, k, seed)
    labels = real_labels if real_labels is not None and k > 1 else np.zeros(len(_images(reference)), np.int64)
    fit, held = _categories.split_real(labels, seed)
    real = _images(reference)
    fresh = memorisation(real[held], real, training=real[fit])
    report["floor"]["memorisation"] = fresh["value"]
    report["floor"]["memorisation_flagged"] = fresh["flagged"]
    if names:
        report["categories"] = names
    return report
