# The cubic fit with nn.Sequential, nn.MSELoss(reduction="sum") and updates by hand.
import math

import torch
from _weights import init_from_numpy

x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)
p = torch.tensor([1, 2, 3])
xx = x.unsqueeze(-1).pow(p)

model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
init_from_numpy(model, torch)
loss_fn = torch.nn.MSELoss(reduction="sum")

results = {"losses": [], "xx_shape": list(xx.size()), "xx_is_float": xx.dtype == torch.float32}
learning_rate = 1e-6
for t in range(2000):
    y_pred = model(xx)
    loss = loss_fn(y_pred, y)
    if t % 100 == 99:
        print(t, loss.item())
        results["losses"].append(loss.item())
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        for param in model.parameters():
            param -= learning_rate * param.grad

linear_layer = model[0]
results["bias"] = linear_layer.bias.item()
results["weights"] = [linear_layer.weight[:, i].item() for i in range(3)]
print(f"Result: y = {linear_layer.bias.item()} + {linear_layer.weight[:, 0].item()} x")
