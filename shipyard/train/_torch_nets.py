"""The built-in PyTorch architectures: an MLP for tabular features, a small ResNet for images.

This module imports torch at the top, so it is imported only inside the torch trainer's
methods and the torch model's materializer, never when ``shipyard`` is imported: the
local executor forks workers, and a parent that has started torch's thread pools hands
them broken to its children.

A network is rebuilt from its architecture (a JSON-able dict: ``name``, the sizes and
the hyperparameters) by :func:`build`; its weights and the input/target scaling are
tensors in its ``state_dict``, which is all that is saved besides the architecture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["ARCHITECTURES", "Net", "build"]

ARCHITECTURES = ("mlp", "resnet")


class Net(nn.Module):
    """Standardises the inputs, runs ``body``, and maps outputs back to the target's scale.

    The scaling is kept as buffers, so it is saved with the weights. Inputs are
    standardised with the train split's mean and standard deviation, and NaN (a
    feature the transform left unimputed) becomes 0, the mean, after that.
    ``y_mean``/``y_std`` scale a regression target (0 and 1 for classification).
    """

    x_mean: torch.Tensor
    x_std: torch.Tensor
    y_mean: torch.Tensor
    y_std: torch.Tensor

    def __init__(self, body: nn.Module, num_inputs: int, num_outputs: int) -> None:
        super().__init__()
        self.body = body
        self.register_buffer("x_mean", torch.zeros(num_inputs))
        self.register_buffer("x_std", torch.ones(num_inputs))
        self.register_buffer("y_mean", torch.zeros(num_outputs))
        self.register_buffer("y_std", torch.ones(num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.x_mean) / self.x_std
        z = torch.where(torch.isnan(z), torch.zeros_like(z), z)
        out: torch.Tensor = self.body(z)
        return out

    def to_target_scale(self, out: torch.Tensor) -> torch.Tensor:
        """Raw regression outputs (on the standardised scale) as values of the target."""
        return out * self.y_std + self.y_mean


def _mlp(
    num_inputs: int,
    num_outputs: int,
    hidden_layers: Sequence[int],
    dropout: float,
    batch_norm: bool,
) -> nn.Module:
    layers: list[nn.Module] = []
    width = num_inputs
    for size in hidden_layers:
        layers.append(nn.Linear(width, size))
        if batch_norm:
            layers.append(nn.BatchNorm1d(size))
        # Always present (identity at 0) so that the state_dict keys do not depend on it.
        layers += [nn.ReLU(), nn.Dropout(dropout)]
        width = size
    layers.append(nn.Linear(width, num_outputs))
    return nn.Sequential(*layers)


class _BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, added to the input (He et al., 2016)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + x)


class _ResNet(nn.Module):
    """Feature columns reshaped to (channels, height, width), a stem, residual blocks at
    one width and resolution (images such as 8x8 digits are too small to downsample),
    global average pooling and a linear head."""

    def __init__(
        self,
        image_shape: Sequence[int],
        num_outputs: int,
        channels: int,
        blocks: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.image_shape = tuple(int(v) for v in image_shape)
        self.stem = nn.Sequential(
            nn.Conv2d(self.image_shape[0], channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        )
        self.blocks = nn.Sequential(*(_BasicBlock(channels) for _ in range(blocks)))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images = x.reshape(len(x), *self.image_shape)
        features = self.blocks(self.stem(images)).mean(dim=(2, 3))
        out: torch.Tensor = self.head(features)
        return out


def build(architecture: Mapping[str, Any]) -> Net:
    """The network ``architecture`` describes, with fresh weights and identity scaling.

    Raises
    ------
    ValueError
        For a name not in :data:`ARCHITECTURES`.
    KeyError, TypeError
        For a missing or ill-typed entry.
    """
    name = architecture["name"]
    num_inputs = int(architecture["num_inputs"])
    num_outputs = int(architecture["num_outputs"])
    body: nn.Module
    if name == "mlp":
        body = _mlp(
            num_inputs,
            num_outputs,
            [int(v) for v in architecture["hidden_layers"]],
            float(architecture["dropout"]),
            bool(architecture["batch_norm"]),
        )
    elif name == "resnet":
        body = _ResNet(
            architecture["image_shape"],
            num_outputs,
            int(architecture["channels"]),
            int(architecture["blocks"]),
            float(architecture["dropout"]),
        )
    else:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    return Net(body, num_inputs, num_outputs)
