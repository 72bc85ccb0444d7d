# The cubic fit with an optimizer (RMSprop), then with SGD and momentum.
import math

import torch
from _weights import init_from_numpy

x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)
xx = x.unsqueeze(-1).pow(torch.tensor([1, 2, 3]))

results = {}
for name in ("RMSprop", "SGD"):
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
    init_from_numpy(model, torch, seed=1)
    loss_fn = torch.nn.MSELoss(reduction="sum")
    if name == "RMSprop":
        optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9)
    losses = []
    for t in range(1000):
        loss = loss_fn(model(xx), y)
        if t % 100 == 99:
            losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    results[name] = losses
    results[name + " params"] = [v.tolist() for v in model.state_dict().values()]
    print(name, f"{losses[-1]:.3f}")
