"""The benchmark harness behind ``benchmarks/run.py`` and one module per case.

``timing`` (warm-up, interleaved repeats), ``report`` (rows, ratios, paired
ratios, checks), ``process`` and ``workers`` (fresh subprocesses), ``machine``
(what the run was measured on), ``output`` (tables) and ``cli`` (the options
and the results file) are shared; ``cases/`` holds one module per case.
"""
