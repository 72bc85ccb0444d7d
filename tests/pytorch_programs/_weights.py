"""Shared by the programs: set a model's parameters from NumPy, in parameter order."""

import numpy as np


def init_from_numpy(model, torch, seed=0, scale=0.3):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in model.parameters():
            values = rng.uniform(-scale, scale, size=tuple(p.shape)).astype(np.float32)
            p.copy_(torch.from_numpy(values))
