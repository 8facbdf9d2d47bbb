"""Ops that do not export, each with the reason the error and the docs give."""

from __future__ import annotations

from yingshe.onnx._export import refuse

refuse("a gradient op: export traces inference only (an exported model has no backward)",
       "avg_pool2d_backward", "avg_pool3d_backward", "batch_norm_backward",
       "binary_cross_entropy_backward", "binary_cross_entropy_with_logits_backward",
       "cross_entropy_backward",
       "conv2d_weight_grad", "conv3d_weight_grad", "diagonal_backward", "embedding_backward",
       "gelu_grad", "getitem_backward", "gru_layer_backward", "index_backward",
       "kl_div_backward", "log_softmax_backward", "lstm_layer_backward", "max_pool_backward",
       "max_pool_gather", "nll_loss_backward", "pad_backward", "pointwise_loss_backward",
       "rnn_layer_backward", "threshold_backward", "_cumprod_vjp", "_exp_diff",
       "_norm_weight", "_norm_weight_grad", "_prod_others", "_prod_others_vjp",
       "_scatter_along_dim", "_take_along_dim", "_tie_weights")
refuse("a random op: ONNX's random ops cannot reproduce yingshe's generator, so an exported "
       "model would not compute what the traced one did",
       "bernoulli", "multinomial", "normal", "randint", "randperm", "uniform")
refuse("no ONNX op computes a cumulative product", "cumprod")
refuse("ONNX has no binary search op", "searchsorted")
refuse("a collective of yingshe.distributed: an ONNX model runs in one process, with no "
       "process group to communicate with", "dist.all_gather", "dist.all_reduce",
       "dist.broadcast", "dist.reduce_scatter")
refuse("an optimizer update (it writes parameters and state): export traces inference "
       "only", "adagrad_update", "adam_update", "rmsprop_update", "sgd_update")
