# Sequences of different lengths: pad_sequence, pack_padded_sequence of unsorted
# lengths, a 2-layer bidirectional GRU over the packed batch, pad_packed_sequence,
# the last layer's final states (both directions) into an LSTMCell stepped by hand
# and an RNNCell, a linear classifier; cross-entropy, Adam, a few steps.
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from _weights import init_from_numpy

rng = np.random.default_rng(3)
lengths = [5, 2, 7, 3, 7, 1]
seqs = [torch.tensor(rng.normal(size=(n, 4)), dtype=torch.float32) for n in lengths]
labels = torch.tensor(rng.integers(0, 3, size=len(lengths)))


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 8, num_layers=2, bidirectional=True, batch_first=True)
        self.cell = nn.LSTMCell(16, 8)
        self.rnn_cell = nn.RNNCell(8, 8, nonlinearity="relu")
        self.head = nn.Linear(8, 3)

    def forward(self, seqs):
        padded = nn.utils.rnn.pad_sequence(seqs, batch_first=True)
        lengths = torch.tensor([len(s) for s in seqs])
        packed = nn.utils.rnn.pack_padded_sequence(
            padded, lengths, batch_first=True, enforce_sorted=False
        )
        out, h_n = self.gru(packed)
        out, out_lengths = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
        summary = torch.cat([h_n[-2], h_n[-1]], dim=1)
        h, c = self.cell(summary)
        for _ in range(3):
            h, c = self.cell(summary, (h, c))
        h = self.rnn_cell(h)
        return self.head(h), out, out_lengths


model = Classifier()
init_from_numpy(model, torch, seed=4, scale=0.4)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

results = {"loss": []}
for step in range(5):
    optimizer.zero_grad()
    logits, out, out_lengths = model(seqs)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    optimizer.step()
    results["loss"].append(loss.item())
    print(f"step {step}: loss {loss.item():.4f}")

results["out_shape"] = list(out.shape)
results["out_lengths"] = out_lengths.tolist()
results["out_per_sequence"] = out.sum(dim=(1, 2)).tolist()
results["padding_is_zero"] = bool((out[1, 2:] == 0).all())
results["logits"] = logits.tolist()
results["grad_w_ih_reverse"] = model.gru.weight_ih_l1_reverse.grad.sum().item()
results["grad_cell"] = model.cell.weight_hh.grad.abs().sum().item()
results["state_keys"] = sorted(model.state_dict().keys())
