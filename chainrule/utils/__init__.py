"""``chainrule.utils.data`` is :mod:`chainrule.data`, so code that spells it as
PyTorch does (``torch.utils.data.DataLoader``) finds it."""

import sys

from chainrule import data

sys.modules[__name__ + ".data"] = data

__all__ = ["data"]
