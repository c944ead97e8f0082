"""No silent NaN: a diverged generator is refused at export, and a pack whose output is
non-finite is refused at generation, each with one line (issue 18)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_MODEL
from test_cli import invoke, one_error_line, texture_pack

from ganforge.core.errors import PackError


def test_export_refuses_non_finite_weights(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from ganforge.core.modalities.texture.family import TextureFamily
    from ganforge.exporters.onnx.export import export_generator

    family = TextureFamily(dict(TINY_MODEL), {"channels": 3, "crop": 32})
    G = family.build_generator()
    with torch.no_grad():
        next(G.parameters()).view(-1)[0] = float("nan")
    with pytest.raises(PackError, match="non-finite weights") as e:
        export_generator(family, G, tmp_path / "nan.onnx", facts={}, modality="texture")
    assert "\n" not in str(e.value) and not (tmp_path / "nan.onnx").exists()


def test_parity_check_does_not_pass_nan(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from ganforge.exporters.onnx.parity import ParityError, check_parity

    class Family:  # the two calls check_parity makes
        def parity_dims(self):
            return [{"h": 2, "w": 2}]

        def example_inputs(self, batch, dims, seed=0):
            g = torch.Generator().manual_seed(seed)
            return (torch.randn(batch, 4, dims["h"], dims["w"], generator=g), torch.randn(batch, 4, generator=g))

    pack = texture_pack(tmp_path / "ok.onnx")
    with pytest.raises(ParityError, match="non-finite"):
        check_parity(pack, lambda z, g: torch.full((z.shape[0], 3, 8, 8), float("nan")), Family())


def test_generation_refuses_a_pack_that_outputs_nan(tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    path = texture_pack(tmp_path / "nan.onnx")
    model = onnx.load(str(path))
    w = next(t for t in model.graph.initializer if t.name == "W")
    arr = numpy_helper.to_array(w).copy()
    arr[...] = np.nan
    w.CopyFrom(numpy_helper.from_array(arr, "W"))
    onnx.save(model, str(path))
    result = invoke("generate", path, "--seed", 1, "-o", tmp_path / "out.png")
    one_error_line(result, "non-finite")
    assert not (tmp_path / "out.png").exists()
