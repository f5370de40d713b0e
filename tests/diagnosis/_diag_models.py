"""Small models for the diagnosis tests, initialized with torch.nn.init and explicit generators."""

from __future__ import annotations

import math

import torch
from torch import nn

INITS = {
    "xavier": lambda w, g: nn.init.xavier_normal_(w, generator=g),
    "kaiming": lambda w, g: nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g),
    "unif_sqrt_n": lambda w, g: nn.init.uniform_(w, -1 / math.sqrt(w.shape[1]),
                                                 1 / math.sqrt(w.shape[1]), generator=g),
    "xavier_uniform": lambda w, g: nn.init.xavier_uniform_(w, generator=g),
    "constant": lambda w, g: nn.init.constant_(w, 0.0042),
    "orthogonal": lambda w, g: nn.init.orthogonal_(w, generator=g),
}


def mlp(depth: int, width: int, act, init: str, *, d_in: int, d_out: int, seed: int = 0,
        bias: bool = True) -> nn.Sequential:
    """``depth`` Linear layers (depth - 1 hidden of ``width``), ``act`` after each hidden."""
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    d = d_in
    for i in range(depth):
        out = d_out if i == depth - 1 else width
        lin = nn.Linear(d, out, bias=bias)
        with torch.no_grad():
            INITS[init](lin.weight, g)
            if bias:
                lin.bias.zero_()
        layers.append(lin)
        if i < depth - 1 and act is not None:
            layers.append(act())
        d = out
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    def __init__(self, init: str, seed: int = 0, batchnorm: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8) if batchnorm else nn.Identity()
        self.act1 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.act2 = nn.ReLU()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16 * 7 * 7, 10)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in (self.conv1, self.conv2, self.fc):
                INITS[init](m.weight, g)
                m.bias.zero_()

    def forward(self, x):
        x = self.pool(self.act1(self.bn(self.conv1(x))))
        x = self.pool(self.act2(self.conv2(x)))
        return self.fc(self.flatten(x))


def batch(shape, seed: int = 1, classes: int = 10):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g), torch.randint(0, classes, (shape[0],), generator=g)
