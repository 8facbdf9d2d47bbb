"""``yingshe.onnx``: export models and graphs to ONNX, and run ONNX models on yingshe.

    >>> import yingshe
    >>> from yingshe import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> _ = yingshe.onnx.export(model, yingshe.randn(3, 4), "mlp.onnx", input_names=["x"],
    ...                         dynamic_axes={"x": {0: "batch"}})
    >>> back = yingshe.onnx.load("mlp.onnx")
    >>> tuple(back(yingshe.randn(5, 4)).shape)
    (5, 2)

Export (``export``, ``export_graph``) traces in inference mode and maps each registered op
to ``ai.onnx`` nodes through a table (``docs/onnx_supported.md``); ``load`` maps ONNX
nodes back to yingshe ops and returns an ``nn.Module``. Both need the ``onnx`` package
(``pip install "yingshe[onnx]"``), imported on first use: ``import yingshe`` does not.
"""

from yingshe.onnx._common import (DEFAULT_OPSET, MIN_OPSET, OnnxExportError,  # noqa: F401
                                  OnnxImportError, UnsupportedOnnxOp)
from yingshe.onnx._export import export, export_graph  # noqa: F401
from yingshe.onnx._load import OnnxModule, UnsupportedOnnxImport, load  # noqa: F401

__all__ = ["export", "export_graph", "load", "OnnxModule", "MIN_OPSET", "DEFAULT_OPSET",
           "OnnxExportError", "OnnxImportError", "UnsupportedOnnxOp", "UnsupportedOnnxImport"]
