"""Offline quality measures shared by modalities (torch-free numpy).

- :mod:`.frechet`      Fréchet distance and KID between two feature sets
- :mod:`.features`     the fixed-seed random CNN image features FD/KID are computed on
- :mod:`.swd`          sliced Wasserstein distance on Laplacian-pyramid patches (no network)
- :mod:`.categories`   conditional images: recognisability (a linear probe), variety inside a
                       category, density/coverage, each beside held-out real data's
- :mod:`.memorisation` nearest-neighbour check: are samples copies of training items?

Why not torchmetrics or torch-fidelity (which accept custom feature extractors): both need torch,
and ``ganforge eval`` must run where a pack runs — onnxruntime and numpy only. What they would
add over these few lines (matrix square root, unbiased MMD²) is done here with ``numpy.linalg``
and checked against hand-computed cases in ``tests/test_metrics.py``.
"""
