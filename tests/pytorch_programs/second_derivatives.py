# Second derivatives with autograd.grad(create_graph=True): a Hessian-vector
# product, a gradient penalty, and the derivative of tanh three times.
import numpy as np
import torch

rng = np.random.default_rng(6)
x = torch.tensor(rng.normal(size=5), dtype=torch.float64, requires_grad=True)
v = torch.tensor(rng.normal(size=5), dtype=torch.float64)

y = (x.sin() * x.pow(2)).sum() + (x[:-1] * x[1:]).exp().sum()
(g,) = torch.autograd.grad(y, x, create_graph=True)
(hv,) = torch.autograd.grad(g, x, grad_outputs=v)

w = torch.tensor(rng.normal(size=(3, 5)), dtype=torch.float64, requires_grad=True)
inputs = torch.tensor(rng.normal(size=(4, 5)), dtype=torch.float64, requires_grad=True)
out = torch.tanh(inputs @ w.t()).sum()
(grad_inputs,) = torch.autograd.grad(out, inputs, create_graph=True)
penalty = (grad_inputs.norm(2, dim=1) - 1).pow(2).mean()
penalty.backward()

t = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
d1 = torch.autograd.grad(torch.tanh(t), t, create_graph=True)[0]
d2 = torch.autograd.grad(d1, t, create_graph=True)[0]
d3 = torch.autograd.grad(d2, t)[0]

results = {
    "grad": g.tolist(),
    "hvp": hv.tolist(),
    "penalty": penalty.item(),
    "w_grad": w.grad.tolist(),
    "tanh_derivatives": [d1.item(), d2.item(), d3.item()],
}
print(f"penalty {penalty.item():.6f}")
