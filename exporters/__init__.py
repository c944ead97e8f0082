"""Exporters turn a trained run into a generator pack (built-in: ONNX)."""
