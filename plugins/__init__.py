"""Host adapters (Blender, MIDI bridge, editor) — each registers through the ``ganforge`` hooks."""
