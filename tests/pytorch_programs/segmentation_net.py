# A small encoder-decoder for per-pixel labels on 12x12 images: Conv2d with reflect
# and replicate padding, GroupNorm, MaxPool2d in ceil mode (12 -> 6 -> 3 -> 2),
# ConvTranspose2d and bilinear Upsample back up, an adaptive max pool for a side
# head; trained with Adam on cross_entropy over pixels.
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from _weights import init_from_numpy

rng = np.random.default_rng(5)
images = rng.normal(size=(6, 2, 12, 12)).astype(np.float32)
masks = (images[:, 0] + 0.5 * images[:, 1] > 0.2).astype(np.int64)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(2, 6, kernel_size=3, padding=1, padding_mode="reflect")
        self.norm1 = nn.GroupNorm(2, 6)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.enc2 = nn.Conv2d(6, 8, kernel_size=4, padding="same", padding_mode="replicate")
        self.up = nn.ConvTranspose2d(8, 6, kernel_size=2, stride=2)
        self.smooth = nn.Upsample(size=(12, 12), mode="bilinear", align_corners=False)
        self.head = nn.Conv2d(6, 2, kernel_size=1)
        self.side = nn.AdaptiveMaxPool2d((2, 3))
        self.side_fc = nn.Linear(8 * 2 * 3, 1)

    def forward(self, x):
        a = F.relu(self.norm1(self.enc1(x)))  # 12x12
        b = F.relu(self.enc2(self.pool(a)))  # 6x6
        c = self.pool(b)  # 3x3
        side = self.side_fc(self.side(b).flatten(1))
        d = F.relu(self.up(F.interpolate(c, scale_factor=2.0, mode="nearest")))  # 12x12
        return self.head(self.smooth(d) + a), side


model = Net()
init_from_numpy(model, torch, seed=7, scale=0.3)
optimizer = optim.Adam(model.parameters(), lr=5e-3)
x, y = torch.from_numpy(images), torch.from_numpy(masks)

results = {"losses": []}
for _step in range(15):
    optimizer.zero_grad()
    logits, side = model(x)
    loss = F.cross_entropy(logits, y) + 0.1 * side.pow(2).mean()
    loss.backward()
    optimizer.step()
    results["losses"].append(loss.item())
results["enc2_grad"] = model.enc2.weight.grad.flatten().tolist()[:40]
values, where = F.max_pool2d(x, 5, stride=4, ceil_mode=True, return_indices=True)
results["pool_indices"] = where.flatten().tolist()
results["pixel_accuracy"] = (model(x)[0].argmax(dim=1) == y).float().mean().item()
print(f"loss {results['losses'][-1]:.4f} pixel accuracy {results['pixel_accuracy']:.3f}")
