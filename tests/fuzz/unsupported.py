"""Names the fuzz catalogue reaches for that yingshe does not implement.

Written once, before the suite first ran: every name the catalogue can draw (the public
PyTorch names a step calls, as ``names_in`` spells them) that ``yingshe``,
``yingshe.Tensor`` or ``yingshe.nn.functional`` lacks, found by ``hasattr`` on the code of
the day, plus the ``interpolate`` modes that yingshe's ``interpolate`` documents as not
supported (it resizes 1 and 2 spatial dims: nearest, linear, bilinear). A draw whose step
fails on one of these is counted as "unsupported (listed)" and not compared further.

Never add a name here to make a draw pass: a name leaves this list when yingshe implements
it (then the fuzzer compares it with PyTorch like any other).
"""

UNSUPPORTED = frozenset({
    # torch.* functions
    'acos', 'aminmax', 'asin', 'asinh', 'atan', 'baddbmm', 'block_diag',
    'cartesian_prod', 'column_stack', 'copysign', 'cosh', 'cummax', 'deg2rad', 'diag_embed',
    'dstack', 'erfc', 'exp2', 'fmax', 'fmin', 'inner', 'kron', 'lgamma', 'logaddexp',
    'logcumsumexp', 'logit', 'mode', 'nextafter', 'positive', 'quantile', 'real', 'rot90',
    'sgn', 'signbit', 'sinh', 'take', 'tensordot', 'vdot', 'xlogy',
    # Tensor methods
    'Tensor.acos', 'Tensor.as_strided', 'Tensor.asin', 'Tensor.asinh', 'Tensor.atan',
    'Tensor.copysign', 'Tensor.cosh', 'Tensor.deg2rad', 'Tensor.erfc', 'Tensor.exp2',
    'Tensor.fmax', 'Tensor.fmin', 'Tensor.index_copy', 'Tensor.index_fill', 'Tensor.kthvalue',
    'Tensor.logaddexp',   # (missed when the list was written: the catalogue draws both forms)
    'Tensor.nextafter', 'Tensor.repeat_interleave', 'Tensor.scatter_reduce', 'Tensor.sgn',
    'Tensor.signbit', 'Tensor.sinh', 'Tensor.unfold', 'Tensor.xlogy',
    # torch.nn.functional
    'F.adaptive_avg_pool3d', 'F.adaptive_max_pool1d', 'F.adaptive_max_pool3d',
    'F.cosine_similarity', 'F.gaussian_nll_loss', 'F.glu', 'F.hardshrink',
    'F.local_response_norm', 'F.lp_pool1d', 'F.lp_pool2d', 'F.margin_ranking_loss',
    'F.multi_margin_loss', 'F.multilabel_soft_margin_loss', 'F.normalize',
    'F.pairwise_distance', 'F.pixel_shuffle', 'F.poisson_nll_loss', 'F.rms_norm',
    'F.soft_margin_loss', 'F.softshrink', 'F.unfold',
    # arguments
    "F.interpolate(mode='area')", "F.interpolate(mode='bicubic')",
    "F.interpolate(mode='nearest-exact')", "F.interpolate(mode='trilinear')",
})
