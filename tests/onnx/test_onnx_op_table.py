"""Every record of the op table, exported and run in onnxruntime: equal to yingshe eager
at the float32 cross-library tolerance (float64 for records without float32), and equal
again when the file is loaded back into yingshe. Ops that do not export must be refused
by name (``UnsupportedOnnxOp``), never written."""

import io
import re

import numpy as np
import pytest

import yingshe
import yingshe.onnx
from yingshe.errors import UnsupportedError
from yingshe.onnx._export import EXPORTERS, REFUSED, _import_tables
from yingshe.ops._registry import REGISTRY
from yingshe.testing.op_db import ALL_CASES
from yingshe.testing.reference import require_module

from onnx_helpers import assert_close, flat, ort_run

require_module("onnx")
require_module("onnxruntime")
_import_tables()

# Known gaps outside yingshe.onnx (strict: each fails once fixed, and is then removed).
KNOWN: dict[str, str] = {}
# Records that cannot be traced at all: their output shape depends on the data. The
# tracer refuses them by name (tests/graph/test_symbolic_index.py), and so does export:
# {record: what the UnsupportedError says}
DATA_DEPENDENT = {**dict.fromkeys(("index-mask", "index-mask-dim1", "index_put-mask-0d-value",
                                   "index-masked_select", "index-masked_select-bcast"),
                                  "depend"),
                  "one_hot-infer-classes": "one_hot: num_classes=-1 takes the number of classes"}
# Records whose ONNX form needs a newer opset than the default
OPSET = {"pad-circular": 19}
# Records with an attribute the op's mapping refuses (an OnnxExportError saying which)
ATTR_REFUSED = {c: "proj_size" for c in ("lstm_layer-proj", "lstm_layer-proj-reverse-batch-first",
                                          "lstm_layer_backward-proj-reverse-batch-first")}

CASES = [c for c in ALL_CASES if not c.random]
PARAMS = [pytest.param(c, id=c.id, marks=pytest.mark.xfail(reason=KNOWN[c.id], strict=True))
          if c.id in KNOWN else pytest.param(c, id=c.id) for c in CASES]


def _inputs(case):
    dt = np.float32 if "float32" in case.dtypes else np.dtype(case.dtypes[0])
    arrays = case.inputs(np.random.default_rng(0))
    return [a.astype(dt) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
            for a in arrays]


def _fn(case, arrays):
    pos = [i for i, a in enumerate(arrays) if isinstance(a, np.ndarray)]

    def fn(*tensors):
        args = list(arrays)
        for i, t in zip(pos, tensors):
            args[i] = t
        return case.call(yingshe, *args)
    return fn, [yingshe.tensor(arrays[i]) for i in pos]


@pytest.mark.parametrize("case", PARAMS)
def test_op_table_record_exports_and_matches_onnxruntime(case):
    arrays = _inputs(case)
    fn, tensors = _fn(case, arrays)
    want = flat(fn(*tensors))
    if case.op == "dropout":     # exported models run in inference mode: no dropping
        want = [tensors[0].numpy()]
    names = [f"x{i}" for i in range(len(tensors))]
    buf = io.BytesIO()
    if case.id in DATA_DEPENDENT:
        with pytest.raises(UnsupportedError, match=DATA_DEPENDENT[case.id]):
            yingshe.onnx.export(fn, tuple(tensors), buf, input_names=names)
        assert buf.getvalue() == b""
        return
    if case.id in ATTR_REFUSED:
        with pytest.raises(yingshe.onnx.OnnxExportError, match=ATTR_REFUSED[case.id]):
            yingshe.onnx.export(fn, tuple(tensors), buf, input_names=names)
        assert buf.getvalue() == b""
        return
    if case.op in REFUSED:
        # a gradient record may meet another gradient op first: the error names a refused
        # op and says why, and nothing is written
        with pytest.raises(yingshe.onnx.UnsupportedOnnxOp) as info:
            yingshe.onnx.export(fn, tuple(tensors), buf, input_names=names)
        named = re.search(r"op '([^']+)'", str(info.value)).group(1)
        assert named in REFUSED and REFUSED[named] in str(info.value)
        assert "(created at " in str(info.value)
        assert buf.getvalue() == b""
        return
    assert case.op in EXPORTERS
    yingshe.onnx.export(fn, tuple(tensors), buf, input_names=names,
                        opset_version=OPSET.get(case.id))
    _check(buf.getvalue(), names, tensors, want, case.id)


def _check(data, names, tensors, want, what):
    """onnxruntime, then the file loaded back into yingshe (every ONNX op the export
    writes must load), against the eager outputs ``want``."""
    got = ort_run(data, {n: t.numpy() for n, t in zip(names, tensors)})
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert_close(g, w, f"{what} output {k}")
    with yingshe.no_grad():
        back = flat(yingshe.onnx.load(data)(*tensors))
    for k, (g, w) in enumerate(zip(back, want)):
        assert_close(g, w, f"{what} output {k}, loaded back")


def test_every_registered_op_exports_or_is_refused_with_a_reason():
    import yingshe.distributed  # noqa: F401 - registers its collectives (imports no MPI)
    from yingshe.autograd.function import _not_registered_forward
    # an autograd.Function's op (yingshe's own, or one another test module defined in this
    # worker) never reaches an exported graph: tracing runs the ops of its forward
    missing = sorted(n for n, op in REGISTRY.items() if n not in EXPORTERS
                     and n not in REFUSED and op.forward is not _not_registered_forward)
    assert not missing, f"ops with neither an ONNX mapping nor a reason: {missing}"
    both = sorted(set(EXPORTERS) & set(REFUSED))
    assert not both, f"ops both mapped and refused: {both}"
    from yingshe.graph.ir import GRAPH_OPS
    stale = sorted(n for n in list(EXPORTERS) + list(REFUSED)
                   if n not in REGISTRY and n not in GRAPH_OPS)
    assert not stale, f"mappings or refusals of ops that no longer exist: {stale}"


# ---- the same records with a dynamic axis 0 and a second size -----------------------------------

# Records whose inputs cannot change axis 0 together: the sweep below marks axis 0 of
# every input of the first input's size as one dynamic axis, and these records tie that
# size to a fixed one (an unbatched conv's channels, a reshape or expand target, an
# einsum diagonal, split sections, an LSTM whose sequence and batch are both 1 ...).
NOT_BATCHED = {
    "conv2d-unbatched", "conv3d-unbatched", "conv_transpose2d-basic", "gather-take_along_dim",
    "masked_fill-bcast-input", "matmul-addmm", "linear-1d-noncontig", "einsum-trace",
    "einsum-diagonal-times-vector", "einsum-two-diagonals", "reshape", "reshape-noncontig",
    "expand", "expand-as-empty", "split-sections", "lstm_layer-one-step", "cat-legacy-empty",
    "view_scatter", "view_scatter-diagonal-offset-dims-noncontig", "diagonal-einsum",
}
# Mappings that need the size of the dynamic axis when exporting: refused with an
# OnnxExportError naming the op (export them with fixed sizes)
NEEDS_FIXED_SIZE = {
    "index_put", "index_put-accumulate", "index_put-two-indices", "diagonal",
    "diagonal-offset-dims", "diagonal-diag-2d", "median", "median-even-keepdim-noncontig",
    "median-empty",
    "roll", "roll-multi", "roll-flat", "getitem-tensor_split", "split-one-output-used",
    "view_scatter-slice", "view_scatter-select", "view_scatter-empty",
}


def _batched(case) -> bool:
    if case.id in DATA_DEPENDENT or case.id in KNOWN or case.op in REFUSED \
            or case.id in NOT_BATCHED or case.id in ATTR_REFUSED:
        return False
    arrays = [a for a in _inputs(case) if isinstance(a, np.ndarray)]
    return bool(arrays) and arrays[0].ndim > 0


DYN_CASES = [c for c in CASES if _batched(c)]


@pytest.mark.parametrize("case", DYN_CASES, ids=[c.id for c in DYN_CASES])
def test_op_table_record_with_a_dynamic_axis_runs_at_a_second_size(case):
    arrays = _inputs(case)
    fn, tensors = _fn(case, arrays)
    n0 = tensors[0].shape[0]
    dyn = [k for k, t in enumerate(tensors) if t.ndim and t.shape[0] == n0]
    names = [f"x{i}" for i in range(len(tensors))]
    axes = {names[k]: {0: "n"} for k in dyn}
    buf = io.BytesIO()
    if case.id in NEEDS_FIXED_SIZE:
        with pytest.raises(yingshe.onnx.OnnxExportError, match=f"{case.op}.*(dynamic|fixed)"):
            yingshe.onnx.export(fn, tuple(tensors), buf, input_names=names, dynamic_axes=axes)
        assert buf.getvalue() == b""
        return
    yingshe.onnx.export(fn, tuple(tensors), buf, input_names=names, dynamic_axes=axes,
                        opset_version=OPSET.get(case.id))
    # a second size: axis 0 doubled (the values reversed, so the new rows differ)
    second = [yingshe.tensor(np.concatenate([t.numpy(), t.numpy()[::-1]]))
              if k in dyn else t for k, t in enumerate(tensors)]
    want = flat(fn(*second))
    if case.op == "dropout":
        want = [second[0].numpy()]
    _check(buf.getvalue(), names, second, want, f"{case.id} at axis-0 size {2 * n0}")


def test_every_listed_record_exists():
    # a record renamed in the op table must not leave a stale name here, silently testing less
    ids = {c.id for c in CASES}
    for name, listed in [("KNOWN", KNOWN), ("DATA_DEPENDENT", DATA_DEPENDENT),
                         ("OPSET", OPSET), ("ATTR_REFUSED", ATTR_REFUSED),
                         ("NOT_BATCHED", NOT_BATCHED), ("NEEDS_FIXED_SIZE", NEEDS_FIXED_SIZE)]:
        assert not set(listed) - ids, f"{name} names no op-table record: {set(listed) - ids}"
