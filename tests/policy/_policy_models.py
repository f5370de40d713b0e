"""Small models shared by the policy tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ACT_MODULES = {
    "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "gelu": nn.GELU, "silu": nn.SiLU,
    "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "selu": nn.SELU,
}
ACT_FUNCS = {
    "relu": F.relu, "leaky_relu": lambda x: F.leaky_relu(x, 0.2), "gelu": F.gelu, "silu": F.silu,
    "tanh": torch.tanh, "sigmoid": torch.sigmoid, "selu": F.selu,
}


def mlp(act: str, width: int = 16, functional: bool = False) -> nn.Module:
    if functional:
        return FunctionalMLP(ACT_FUNCS[act], width)
    return nn.Sequential(nn.Linear(8, width), ACT_MODULES[act](), nn.Dropout(0.1),
                         nn.Linear(width, width), ACT_MODULES[act](), nn.Linear(width, 3))


class FunctionalMLP(nn.Module):
    def __init__(self, fn, width):
        super().__init__()
        self.fn = fn
        self.fc1, self.fc2, self.head = nn.Linear(8, width), nn.Linear(width, width), nn.Linear(width, 3)

    def forward(self, x):
        return self.head(self.fn(self.fc2(self.fn(self.fc1(x)))))


def cnn(act: str) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), ACT_MODULES[act](), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), ACT_MODULES[act](),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 10))


class Untraceable(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 8), nn.Linear(8, 2)

    def forward(self, x):
        h = self.a(x)
        if h.sum() > 1e9:
            h = h * 2
        return self.b(torch.tanh(h))


class Block(nn.Module):
    """A residual MLP branch marked for fixup/zero_residual."""

    residual_branch = True

    def __init__(self, d, norm=False):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, d), nn.Linear(d, d)
        self.norm = nn.LayerNorm(d) if norm else None
        self.bias1a = nn.Parameter(torch.zeros(1))
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        h = self.fc2(F.relu(self.fc1(x + self.bias1a))) * self.scale
        return h if self.norm is None else self.norm(h)


class ResMLP(nn.Module):
    def __init__(self, d=8, blocks=4, norm=False):
        super().__init__()
        self.stem = nn.Linear(6, d)
        self.blocks = nn.ModuleList(Block(d, norm) for _ in range(blocks))
        self.head = nn.Linear(d, 3)

    def forward(self, x):
        x = F.relu(self.stem(x))
        for b in self.blocks:
            x = F.relu(x + b(x))
        return self.head(x)


class GPTBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        q, k, v = self.c_attn(self.ln1(x)).chunk(3, dim=-1)
        x = x + self.c_proj(torch.softmax(q @ k.transpose(-1, -2), -1) @ v)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln2(x))))


class TinyGPT(nn.Module):
    def __init__(self, d=16, n_layer=3, vocab=50):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.h = nn.ModuleList(GPTBlock(d) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)

    def forward(self, idx):
        x = self.wte(idx)
        for b in self.h:
            x = b(x)
        return self.lm_head(self.ln_f(x))


class Mixed(nn.Module):
    """A bit of everything: conv, transposed conv, norm, LSTM, GRU, attention, embedding."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6)
        self.up = nn.ConvTranspose2d(6, 4, 2, groups=2)
        self.fc = nn.Linear(4 * 7 * 7, 5)
        self.lstm, self.gru = nn.LSTM(5, 7, num_layers=2), nn.GRU(7, 8)
        self.mha = nn.MultiheadAttention(8, 2)
        self.emb = nn.Embedding(11, 8, padding_idx=2)
        self.ln = nn.LayerNorm(8)

    def forward(self, img, tokens):
        h = torch.tanh(self.up(F.relu(self.bn(self.conv(img)))))
        seq = self.fc(h.flatten(1)).unsqueeze(1)
        seq, _ = self.lstm(seq)
        seq, _ = self.gru(seq)
        seq = seq + self.emb(tokens)
        out, _ = self.mha(seq, seq, seq)
        return self.ln(out)

    @staticmethod
    def example():
        return torch.randn(2, 3, 8, 8), torch.randint(0, 11, (2, 1))
