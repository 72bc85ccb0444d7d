# A classification loop: TensorDataset and DataLoader, an MLP with BatchNorm1d and
# Dropout, cross-entropy, SGD with momentum and weight decay, accuracy by
# argmax(dim=1), a state_dict saved and loaded, evaluation under no_grad.
import os
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from _weights import init_from_numpy
from torch.utils.data import DataLoader, TensorDataset

rng = np.random.default_rng(0)
centers = rng.normal(0, 2.0, size=(3, 4))
labels = rng.integers(0, 3, size=240)
points = centers[labels] + rng.normal(0, 1.0, size=(240, 4))

X = torch.tensor(points, dtype=torch.float32)
Y = torch.tensor(labels, dtype=torch.long)
train = TensorDataset(X[:192], Y[:192])
test = TensorDataset(X[192:], Y[192:])
train_loader = DataLoader(train, batch_size=32, shuffle=False)
test_loader = DataLoader(test, batch_size=16)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 16)
        self.bn1 = nn.BatchNorm1d(16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        x = F.relu(self.bn1(self.fc1(x)))
        return self.fc2(x)


model = Net()
init_from_numpy(model, torch, seed=2, scale=0.5)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)

results = {"epoch_loss": [], "accuracy": []}
for epoch in range(5):
    model.train()
    running = 0.0
    for inputs, targets in train_loader:
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, targets)
        loss.backward()
        optimizer.step()
        running += loss.item() * inputs.size(0)
    results["epoch_loss"].append(running / len(train_loader.dataset))

    model.eval()
    correct = 0
    total = 0
    with torch.no_grad():
        for inputs, targets in test_loader:
            predicted = model(inputs).argmax(dim=1)
            total += targets.size(0)
            correct += (predicted == targets).sum().item()
    results["accuracy"].append(correct / total)
    print(f"epoch {epoch}: loss {results['epoch_loss'][-1]:.4f}, accuracy {correct / total:.3f}")

with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "model.pt")
    torch.save(model.state_dict(), path)
    restored = Net()
    restored.load_state_dict(torch.load(path))
restored.eval()
with torch.no_grad():
    results["restored_logits"] = restored(X[:4]).tolist()
    results["probabilities"] = F.softmax(restored(X[:4]), dim=1).tolist()
    values, indices = torch.max(restored(X[:8]), 1)
    results["max_indices"] = indices.tolist()
results["state_keys"] = sorted(model.state_dict().keys())
results["running_mean"] = model.bn1.running_mean.tolist()
