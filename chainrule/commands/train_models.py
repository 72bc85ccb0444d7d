"""The sequence networks of ``chainrule train``: ``--model lstm`` and ``--model vit``.

- ``lstm`` reads an image row by row (sequential MNIST: 28 steps of 28 pixels)
  through one LSTM layer of 128 and classifies its last hidden state.
- ``vit``, a small vision transformer: the image cut into a 4x4 grid of patches
  (7x7 pixels on MNIST), each embedded in 64 dimensions plus a learned position,
  then 4 pre-norm encoder layers of 4 heads (feed-forward 128, ReLU, no dropout),
  a LayerNorm, the mean over patches and a linear classifier.

Both take NCHW images as the other networks do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import nn

#: ``--model lstm``: hidden units of its one LSTM layer
LSTM_HIDDEN = 128
#: ``--model vit``: patches per side, width, heads, layers, feed-forward width
VIT_GRID, VIT_DIM, VIT_HEADS, VIT_LAYERS, VIT_FF = 4, 64, 4, 4, 128


class RowLSTM(nn.Module):
    """An image read row by row: (N, C, H, W) -> H steps of C*W features -> classes."""

    def __init__(self, image_shape: tuple[int, int, int], classes: int, hidden: int = LSTM_HIDDEN):
        super().__init__()
        c, _, w = image_shape
        self.lstm = nn.LSTM(c * w, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x: Any) -> Any:
        n, c, h, w = x.shape
        rows = x.transpose(0, 2, 1, 3).reshape(n, h, c * w)
        _, (h_n, _) = self.lstm(rows)
        return self.fc(h_n[0])


class VisionTransformer(nn.Module):
    """Patches, a pre-norm transformer encoder, mean pooling, a linear classifier."""

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        classes: int,
        grid: int = VIT_GRID,
        dim: int = VIT_DIM,
        heads: int = VIT_HEADS,
        layers: int = VIT_LAYERS,
        feedforward: int = VIT_FF,
    ):
        super().__init__()
        c, h, w = image_shape
        if h % grid or w % grid:
            raise ValueError(f"vit: a {h}x{w} image does not cut into a {grid}x{grid} grid")
        self.grid = grid
        self.patch = (h // grid, w // grid)
        self.embed = nn.Linear(c * self.patch[0] * self.patch[1], dim)
        self.position = nn.Parameter(np.zeros((grid * grid, dim), dtype=np.float32))
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(
            dim, heads, feedforward, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: Any) -> Any:
        n, c, h, w = x.shape
        (ph, pw), g = self.patch, self.grid
        patches = x.reshape(n, c, g, ph, g, pw).transpose(0, 2, 4, 1, 3, 5)
        tokens = self.embed(patches.reshape(n, g * g, c * ph * pw)) + self.position
        return self.head(self.norm(self.encoder(tokens)).mean(axis=1))


def build_sequence_model(kind: str, image_shape: tuple[int, int, int], classes: int) -> Any:
    """``lstm`` or ``vit`` (see the module doc)."""
    if kind == "lstm":
        return RowLSTM(image_shape, classes)
    if kind == "vit":
        return VisionTransformer(image_shape, classes)
    raise ValueError(f"unknown sequence model {kind!r} (lstm or vit)")
