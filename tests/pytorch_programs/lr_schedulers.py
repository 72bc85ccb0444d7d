# Learning-rate schedules: StepLR, CosineAnnealingLR and ReduceLROnPlateau driving
# an optimizer; param_groups read and written; clip_grad_norm_.
import numpy as np
import torch
from _weights import init_from_numpy
from torch import nn, optim

rng = np.random.default_rng(4)
X = torch.tensor(rng.normal(size=(64, 5)), dtype=torch.float32)
Y = torch.tensor(rng.normal(size=(64, 1)), dtype=torch.float32)

results = {}
for kind in ("step", "cosine", "plateau"):
    model = nn.Linear(5, 1)
    init_from_numpy(model, torch, seed=5)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    if kind == "step":
        scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)
    elif kind == "cosine":
        scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10, eta_min=0.001)
    else:
        scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=1)
    lrs, losses, norms = [], [], []
    for _epoch in range(15):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(X), Y)
        loss.backward()
        norms.append(float(nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)))
        optimizer.step()
        losses.append(loss.item())
        if kind == "plateau":
            scheduler.step(round(loss.item(), 1))
        else:
            scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    results[kind] = {"lrs": lrs, "losses": losses, "norms": norms}

for group in optimizer.param_groups:
    group["lr"] = 0.01
optimizer.step()
results["after_manual_lr"] = [p.tolist() for p in model.parameters()]
print({k: v["lrs"][-1] for k, v in results.items() if isinstance(v, dict)})
