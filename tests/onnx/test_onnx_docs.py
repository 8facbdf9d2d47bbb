"""docs/onnx_supported.md is generated from the mapping tables and up to date."""

from yingshe.onnx import _docs
from yingshe.onnx._export import EXPORTERS, _import_tables
from yingshe.onnx._load import IMPORTERS


def test_onnx_supported_doc_is_up_to_date():
    with open(_docs._docs.doc_file(_docs.DOC_PATH), encoding="utf-8") as fh:
        current = fh.read()
    assert current == _docs.render(), (
        "docs/onnx_supported.md is out of date: run python -m yingshe.onnx._docs")


def test_every_mapping_says_what_it_emits_and_every_importer_declares_its_attributes():
    from yingshe.onnx import import_ops  # noqa: F401 - fills IMPORTERS
    _import_tables()
    assert [n for n, e in EXPORTERS.items() if not e.onnx_ops] == []
    for name, imp in IMPORTERS.items():
        assert imp.op == name and callable(imp.fn)
        assert all(t in ("i", "f", "s", "t", "ints", "floats", "strings")
                   for t in imp.attrs.values()), name
