"""The one table of torch module types every layer of initlab classifies modules by.

Normalization layers, convolutions, linear layers, embeddings, recurrent layers and
attention, each a tuple for ``isinstance``. Types that only newer torch versions have
(``nn.RMSNorm`` since 2.4) are included when present, so ``import initlab`` works on the
declared torch floor.

Examples:
    >>> from torch import nn
    >>> isinstance(nn.LayerNorm(4), NORM_TYPES), isinstance(nn.Linear(2, 2), NORM_TYPES)
    (True, False)
    >>> kind_of(nn.Conv2d(1, 1, 3)), kind_of(nn.LSTM(2, 2)), kind_of(nn.ReLU())
    ('conv', 'recurrent', None)
"""

from __future__ import annotations

from torch import nn

__all__ = ["NORM_TYPES", "CONV_TYPES", "LINEAR_TYPES", "BILINEAR_TYPES", "EMBEDDING_TYPES",
           "RECURRENT_TYPES", "ATTENTION_TYPES", "MODULE_KINDS", "is_norm", "kind_of"]

ModuleTypes = tuple[type[nn.Module], ...]


def _optional(*names: str) -> ModuleTypes:
    """The ``torch.nn`` classes among ``names`` that this torch has."""
    return tuple(getattr(nn, n) for n in names if isinstance(getattr(nn, n, None), type))


#: Normalization layers: their weight is an affine gain (init 1), not a projection.
NORM_TYPES: ModuleTypes = (
    nn.modules.batchnorm._NormBase,  # BatchNorm*, InstanceNorm*, SyncBatchNorm
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    *_optional("RMSNorm"),
)
#: Convolutions and transposed convolutions of every dimension.
CONV_TYPES: ModuleTypes = (nn.modules.conv._ConvNd,)
#: Dense projections (``nn.Bilinear`` has a 3-d weight: a separate entry).
LINEAR_TYPES: ModuleTypes = (nn.Linear,)
BILINEAR_TYPES: ModuleTypes = (nn.Bilinear,)
#: Lookup tables.
EMBEDDING_TYPES: ModuleTypes = (nn.Embedding, nn.EmbeddingBag)
#: RNN, LSTM, GRU (gates stacked in one weight).
RECURRENT_TYPES: ModuleTypes = (nn.RNNBase,)
#: Fused attention (q/k/v stacked in ``in_proj_weight``).
ATTENTION_TYPES: ModuleTypes = (nn.MultiheadAttention,)

#: Kind name -> types, in the order :func:`kind_of` tests them.
MODULE_KINDS: dict[str, ModuleTypes] = {
    "norm": NORM_TYPES,
    "conv": CONV_TYPES,
    "linear": LINEAR_TYPES,
    "bilinear": BILINEAR_TYPES,
    "embedding": EMBEDDING_TYPES,
    "recurrent": RECURRENT_TYPES,
    "attention": ATTENTION_TYPES,
}


def is_norm(module: nn.Module) -> bool:
    """Whether ``module`` is a torch normalization layer (see :data:`NORM_TYPES`).

    Args:
        module: any module.

    Returns:
        True for BatchNorm/InstanceNorm/LayerNorm/GroupNorm/LocalResponseNorm/RMSNorm.

    Examples:
        >>> from torch import nn
        >>> is_norm(nn.BatchNorm2d(3)), is_norm(nn.LocalResponseNorm(2)), is_norm(nn.Linear(1, 1))
        (True, True, False)
    """
    return isinstance(module, NORM_TYPES)


def kind_of(module: nn.Module) -> str | None:
    """The kind of a torch module (a key of :data:`MODULE_KINDS`), or None.

    Args:
        module: any module.

    Returns:
        ``"norm"``, ``"conv"``, ``"linear"``, ``"bilinear"``, ``"embedding"``,
        ``"recurrent"``, ``"attention"``, or None for anything else.

    Examples:
        >>> from torch import nn
        >>> kind_of(nn.Embedding(3, 2)), kind_of(nn.MultiheadAttention(4, 2))
        ('embedding', 'attention')
    """
    for kind, types in MODULE_KINDS.items():
        if isinstance(module, types):
            return kind
    return None
