"""The primitive table: every derivative rule in chainrule, one entry per primitive.

- :mod:`~chainrule.ops.primitive`: the ``Primitive`` class, the registry, ``cr.primitive``
- :mod:`~chainrule.ops.elementwise`: arithmetic, exp/log/sqrt/abs/sin/cos/tanh, where, clip
- :mod:`~chainrule.ops.activations`: sigmoid, relu, softmax, log_softmax, safe_softmax
  (fused, stable)
- :mod:`~chainrule.ops.reductions`: sum, prod, max, min, logsumexp
- :mod:`~chainrule.ops.linalg`: matmul
- :mod:`~chainrule.ops.shape`: reshape, transpose, expand_dims, squeeze, broadcast_to,
  concatenate, stack
- :mod:`~chainrule.ops.indexing`: getitem and its adjoint scatter_add
- :mod:`~chainrule.ops.broadcast`: ``sum_to``, where broadcasting is undone
- :mod:`~chainrule.ops.numpy_elementwise`, :mod:`~chainrule.ops.numpy_reductions`,
  :mod:`~chainrule.ops.numpy_linalg`: the rest of NumPy's ufuncs, scans, std and
  norms, tensordot/einsum and ``numpy.linalg``, behind ``chainrule.numpy``
- :mod:`~chainrule.ops.numpy_eig`: ``numpy.linalg.eig`` (real or complex)
- :mod:`~chainrule.ops.complex_parts`: real, imag, conj, angle, and the complex
  convention every rule follows (HIPS autograd's)
- :mod:`~chainrule.ops.fft`: the discrete Fourier transforms behind ``chainrule.numpy.fft``
- :mod:`~chainrule.ops.conv`: ``conv2d`` and its gradients ``conv2d_input_grad`` and
  ``conv2d_weight_grad``, each a primitive
- :mod:`~chainrule.ops.recurrent`: ``lstm_layer``, an LSTM layer's whole recurrence
- :mod:`~chainrule.ops.recurrent_fused`: ``lstm_fused``, an LSTM layer from its raw
  input (oneDNN's fused LSTM with the ``onednn`` backend)
- :mod:`~chainrule.ops.normalization`: ``layer_normalize``, layer norm before its affine
- :mod:`~chainrule.ops.normalization_affine`: ``layer_norm_affine``, layer norm with its
  scale and shift (``nn.LayerNorm`` in one node)
- :mod:`~chainrule.ops.attention`: ``attention``, scaled dot-product attention in one
  node (its result and gradients in their inputs' memory layouts)
- :mod:`~chainrule.ops.batch_rules`, :mod:`~chainrule.ops.batch_rules_more`: the
  ``vmap`` column, how each primitive applies to a whole batch (``cr.vmap``)
"""
