"""Offline quality measures shared by modalities (torch-free numpy).

- :mod:`.frechet`      Fréchet distance and KID between two feature sets
- :mod:`.features`     the fixed-seed random CNN image features FD/KID are computed on
- :mod:`.swd`          sliced Wasserstein distance on Laplacian-pyramid patches (no network)
- :mod:`.memorisation` nearest-neighbour check: are samples copies of training items?
"""
