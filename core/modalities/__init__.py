"""Built-in modalities. Each sub-package registers itself through the ``ganforge`` hooks."""
