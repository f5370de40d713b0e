"""Width-parametrized toy models for coordinate checks and the scaling reproductions.

``mlp(width)``: Linear-ReLU layers of one width. ``Transformer(width)``: a pre-norm
decoder with a fixed number of heads (so the head dimension grows with width), attention
logits computed by a :class:`Scores` module (recorded by the coordinate check) scaled by the
attention module's ``scaling`` attribute, as Hugging Face attention modules are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["mlp", "Transformer", "Scores", "BUILDERS"]


def mlp(width: int, *, d_in: int = 32, d_out: int = 10, depth: int = 3) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units with ReLU, input ``d_in``, output ``d_out``.

    Args:
        width: the hidden width.
        d_in: input features.
        d_out: output features.
        depth: hidden layers (at least 1).

    Returns:
        An ``nn.Sequential``.
    """
    layers: list[nn.Module] = [nn.Linear(d_in, width), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    layers.append(nn.Linear(width, d_out))
    return nn.Sequential(*layers)


class Scores(nn.Module):
    """Attention logits ``q k^T * scale`` (a module, so hooks see them)."""

    def forward(self, q: torch.Tensor, k: torch.Tensor, scale: float) -> torch.Tensor:
        return q @ k.transpose(-1, -2) * scale


class Attention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, width // heads
        self.scaling = float(self.head_dim) ** -0.5
        self.q_proj = nn.Linear(width, width, bias=False)
        self.k_proj = nn.Linear(width, width, bias=False)
        self.v_proj = nn.Linear(width, width, bias=False)
        self.o_proj = nn.Linear(width, width, bias=False)
        self.scores = Scores()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        s = self.scores(q, k, self.scaling)
        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        a = F.softmax(s.masked_fill(mask, float("-inf")), dim=-1)
        return self.o_proj((a @ v).transpose(1, 2).reshape(b, t, -1))


class Block(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """A tiny causal LM: embedding, ``depth`` pre-norm blocks, final norm, untied head."""

    def __init__(self, width: int, *, depth: int = 2, heads: int = 2, vocab: int = 64,
                 seq: int = 16):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(seq, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(depth))
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.embed(ids) + self.pos(pos)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


BUILDERS = {"mlp": mlp, "transformer": Transformer}
