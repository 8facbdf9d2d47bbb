"""Engines: one module each, run in a process of its own by ``yingshe.compare.runner``.

Each engine module exposes ``ENGINE_IDS`` and ``run(engine_id, workload, arrays,
batches, warmup) -> dict`` returning per-step losses and times. Only the engine's
own framework is imported in its process (PyTorch and TensorFlow in one process
slow each other down ~25x), so the harness never imports them itself.
"""

# engine id -> (module, pip requirement that installs it, default?)
ENGINES = {
    "yingshe-eager": ("yingshe.compare.engines.pytorch_style", None, True),
    "torch-eager": ("yingshe.compare.engines.pytorch_style", "torch==2.13.0", True),
    "tensorflow-eager": ("yingshe.compare.engines.tensorflow", "tensorflow-cpu", True),
    "tensorflow-function": ("yingshe.compare.engines.tensorflow", "tensorflow-cpu", True),
    "torch-compile": ("yingshe.compare.engines.pytorch_style", "torch==2.13.0", False),
    "tensorflow-xla": ("yingshe.compare.engines.tensorflow", "tensorflow-cpu", False),
    "yingshe-graph": ("yingshe.compare.engines.yingshe_graph", None, True),
    "yingshe-compiled": ("yingshe.compare.engines.pytorch_style", None, True),
    "jax-jit": ("yingshe.compare.engines.jax_engine", "jax[cpu]", False),
    # the compiler's reference and its numba backend (benchmarks/speed.py runs both)
    "numpy-handwritten": ("yingshe.compare.engines.numpy_handwritten", None, False),
    "yingshe-compiled-numba": ("yingshe.compare.engines.pytorch_style", "yingshe[jit]", False),
}

# the module each engine needs importable (for the "skipped: not installed" report)
REQUIRES = {
    "torch-eager": "torch", "torch-compile": "torch",
    "tensorflow-eager": "tensorflow", "tensorflow-function": "tensorflow",
    "tensorflow-xla": "tensorflow", "jax-jit": "jax", "yingshe-compiled-numba": "numba",
}
