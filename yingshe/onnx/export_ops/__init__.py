"""The export mapping table, one module per op family (filled on first export)."""

from yingshe.onnx.export_ops import elementwise, loss, nn, reduce, refused, shape  # noqa: F401
