"""ganforge core: plugin system, generator packs, torch-free runtime, training engine, CLI.

Importing this package is cheap and never imports torch.
"""

__version__ = "0.1.0"
