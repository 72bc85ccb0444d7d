# A small convolutional network on 8x8 images: Conv2d, MaxPool2d, ReLU, Flatten,
# Linear, trained with Adam; log_softmax and nll_loss.
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from _weights import init_from_numpy

rng = np.random.default_rng(1)
images = rng.normal(size=(32, 1, 8, 8)).astype(np.float32)
targets = (images[:, 0, :4].mean(axis=(1, 2)) > images[:, 0, 4:].mean(axis=(1, 2))).astype(np.int64)

model = nn.Sequential(
    nn.Conv2d(1, 4, kernel_size=3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Conv2d(4, 8, kernel_size=3),
    nn.ReLU(),
    nn.Flatten(),
    nn.Linear(8 * 2 * 2, 2),
)
init_from_numpy(model, torch, seed=3, scale=0.4)
optimizer = optim.Adam(model.parameters(), lr=1e-2)
x = torch.from_numpy(images)
y = torch.from_numpy(targets)

results = {"losses": []}
for _step in range(25):
    optimizer.zero_grad()
    output = F.log_softmax(model(x), dim=1)
    loss = F.nll_loss(output, y)
    loss.backward()
    optimizer.step()
    results["losses"].append(loss.item())
results["first_conv_grad"] = model[0].weight.grad.flatten().tolist()
results["accuracy"] = (model(x).argmax(dim=1) == y).float().mean().item()
print(f"loss {results['losses'][-1]:.4f} accuracy {results['accuracy']:.2f}")
