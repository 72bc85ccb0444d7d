# Tagging a sequence by attending to a context of another width: Conv1d with an even
# kernel and circular 'same' padding, MaxPool1d in ceil mode, MultiheadAttention with
# kdim/vdim, a learnt bias key/value and a zero key, scaled_dot_product_attention with
# grouped-query heads, adaptive average pooling; SGD with momentum.
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from _weights import init_from_numpy

rng = np.random.default_rng(11)
tokens = rng.normal(size=(4, 3, 10)).astype(np.float32)  # (N, channels, length)
context = rng.normal(size=(4, 5, 7)).astype(np.float32)  # (N, length, features)
labels = (tokens[:, 0, :6] > 0).astype(np.int64)  # one tag per pooled position (6)


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 8, kernel_size=4, padding="same", padding_mode="circular")
        self.pool = nn.MaxPool1d(3, stride=2, padding=1, ceil_mode=True)
        self.attn = nn.MultiheadAttention(
            8, 2, kdim=7, vdim=6, add_bias_kv=True, add_zero_attn=True, batch_first=True
        )
        self.value_in = nn.Linear(7, 6)
        self.q = nn.Linear(8, 8)
        self.kv = nn.Linear(8, 4)
        self.out = nn.Linear(8, 2)

    def forward(self, x, ctx):
        h = self.pool(F.relu(self.conv(x))).transpose(1, 2)  # (N, 6, 8): ceil mode
        attended, weights = self.attn(h, ctx, self.value_in(ctx), average_attn_weights=False)
        h = h + attended
        n, length, _ = h.shape
        q = self.q(h).reshape(n, length, 4, 2).transpose(1, 2)  # 4 query heads
        k = self.kv(h).reshape(n, length, 2, 2).transpose(1, 2)  # 2 key/value heads
        g = F.scaled_dot_product_attention(q, k, k, is_causal=True, enable_gqa=True)
        h = h + g.transpose(1, 2).reshape(n, length, 8)
        summary = F.adaptive_avg_pool1d(h.transpose(1, 2), 1).transpose(1, 2)
        return self.out(h + summary), weights


model = Tagger()
init_from_numpy(model, torch, seed=13, scale=0.35)
optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
x, ctx, y = torch.from_numpy(tokens), torch.from_numpy(context), torch.from_numpy(labels)

results = {"losses": []}
for _step in range(20):
    optimizer.zero_grad()
    logits, weights = model(x, ctx)
    loss = F.cross_entropy(logits.reshape(-1, 2), y.reshape(-1))
    loss.backward()
    optimizer.step()
    results["losses"].append(loss.item())
results["attention_weights"] = weights.detach().flatten().tolist()[:30]
results["k_proj_grad"] = model.attn.k_proj_weight.grad.flatten().tolist()[:20]
print(f"loss {results['losses'][-1]:.4f}")
