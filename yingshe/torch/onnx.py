"""``torch.onnx`` on yingshe: ``export`` with PyTorch's signature, writing the model with
``yingshe.onnx.export`` (a trace in inference mode, mapped op by op to ``ai.onnx``).

``torch.onnx.export(model, dummy, "m.onnx")`` in a renamed program works. Both of
PyTorch's exporters (``dynamo=True``, its default, and ``dynamo=False``) are the same
exporter here. Arguments whose behaviour yingshe does not implement are refused by name
when given a value other than their default (``UnsupportedError``), never ignored.
"""

from __future__ import annotations

import enum
import os

from yingshe.errors import UnsupportedError
from yingshe.torch._errors import unsupported_getattr

__all__ = ["export", "ONNXProgram", "TrainingMode", "OperatorExportTypes",
           "is_in_onnx_export"]


class TrainingMode(enum.IntEnum):
    """``torch.onnx.TrainingMode``: only ``EVAL`` (inference) is exported."""
    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


class OperatorExportTypes(enum.IntEnum):
    """``torch.onnx.OperatorExportTypes``: only ``ONNX`` (the standard domain)."""
    ONNX = 0
    ONNX_ATEN = 1
    ONNX_ATEN_FALLBACK = 2
    ONNX_FALLTHROUGH = 3


class ONNXProgram:
    """What ``export(..., dynamo=True)`` returns: ``model_proto`` and ``save(path)``."""

    def __init__(self, model_proto) -> None:
        self.model_proto = model_proto

    def save(self, destination, **kwargs) -> None:
        """Write the model to ``destination`` (a path or a binary file object)."""
        bad = [k for k, v in kwargs.items() if v not in (None, False)]
        if bad:
            raise UnsupportedError(f"torch.onnx.ONNXProgram.save: {', '.join(bad)} are not "
                                   "supported by yingshe")
        data = self.model_proto.SerializeToString()
        if hasattr(destination, "write"):
            destination.write(data)
        else:
            from yingshe.io.checkpoint import write_atomic
            write_atomic(os.fspath(destination), data, suffix=".onnx")

    def __repr__(self) -> str:
        g = self.model_proto.graph
        return f"ONNXProgram(inputs={[i.name for i in g.input]}, " \
               f"outputs={[o.name for o in g.output]}, nodes={len(g.node)})"


_exporting = [False]


def _is_default(value, default) -> bool:
    if default is None:    # None, or an empty mapping/sequence, is "not given"
        return value is None or (isinstance(value, (dict, list, tuple)) and not value)
    return value is default or (type(value) is type(default) and value == default)


def is_in_onnx_export() -> bool:
    """True while ``export`` traces a model."""
    return _exporting[0]


# argument -> (its default, why a different value is refused)
_REFUSED = {
    "dynamic_shapes": (None, "use dynamic_axes={'input': {0: 'batch'}}"),
    "custom_translation_table": (None, "custom translations are not supported"),
    "report": (False, "export reports are not written"),
    "verify": (False, "verify the model with onnxruntime yourself"),
    "profile": (False, "export profiling is not supported"),
    "dump_exported_program": (False, "there is no torch.export program to dump"),
    "export_params": (True, "weights are always exported as initializers"),
    "keep_initializers_as_inputs": (False, "initializers are never graph inputs"),
    "do_constant_folding": (True, "weight-only subgraphs are always folded"),
    "custom_opsets": (None, "only the standard ai.onnx domain is written"),
    "export_modules_as_functions": (False, "modules are not exported as ONNX functions"),
}


def export(model, args=(), f=None, *, kwargs=None, verbose=None, input_names=None,
           output_names=None, opset_version=None, dynamo=True, external_data=True,
           dynamic_shapes=None, custom_translation_table=None, report=False, optimize=True,
           verify=False, profile=False, dump_exported_program=False, artifacts_dir=".",
           export_params=True, keep_initializers_as_inputs=False, dynamic_axes=None,
           training=TrainingMode.EVAL, operator_export_type=OperatorExportTypes.ONNX,
           do_constant_folding=True, custom_opsets=None, export_modules_as_functions=False,
           autograd_inlining=True):
    """``torch.onnx.export``: write ``model`` traced on ``args`` to ``f`` as ONNX.

    Supported: ``model``, ``args``, ``f``, ``kwargs``, ``input_names``, ``output_names``,
    ``opset_version`` (17 or later), ``dynamic_axes``, ``dynamo`` (either value),
    ``verbose``, ``optimize``, ``external_data`` (weights stay in the file),
    ``artifacts_dir``, ``autograd_inlining``, ``training=TrainingMode.EVAL`` and
    ``operator_export_type=OperatorExportTypes.ONNX``. The others are refused by name
    unless they keep their default.

    Returns:
        An ``ONNXProgram`` for ``dynamo=True`` (PyTorch's default), None otherwise.
    """
    import yingshe.onnx
    given = {"dynamic_shapes": dynamic_shapes, "custom_translation_table":
             custom_translation_table, "report": report, "verify": verify, "profile": profile,
             "dump_exported_program": dump_exported_program, "export_params": export_params,
             "keep_initializers_as_inputs": keep_initializers_as_inputs,
             "do_constant_folding": do_constant_folding, "custom_opsets": custom_opsets,
             "export_modules_as_functions": export_modules_as_functions}
    for name, value in given.items():
        default, why = _REFUSED[name]
        if not _is_default(value, default):
            raise UnsupportedError(f"torch.onnx.export: {name}={value!r} is not supported by "
                                   f"yingshe ({why})")
    if int(training) != TrainingMode.EVAL:
        raise UnsupportedError(f"torch.onnx.export: training={training!r} is not supported "
                               "by yingshe (models are exported in inference mode, EVAL)")
    if int(operator_export_type) != OperatorExportTypes.ONNX:
        raise UnsupportedError(f"torch.onnx.export: operator_export_type="
                               f"{operator_export_type!r} is not supported by yingshe (only "
                               "OperatorExportTypes.ONNX, the standard domain)")
    if f is None and not dynamo:
        raise ValueError("torch.onnx.export: f must be given when dynamo=False")
    _exporting[0] = True
    try:
        proto = yingshe.onnx.export(model, args, f, kwargs=kwargs, input_names=input_names,
                                    output_names=output_names, dynamic_axes=dynamic_axes,
                                    opset_version=opset_version)
    finally:
        _exporting[0] = False
    if verbose:
        import onnx
        print(onnx.helper.printable_graph(proto.graph))
    return ONNXProgram(proto) if dynamo else None


__getattr__ = unsupported_getattr(__name__)
