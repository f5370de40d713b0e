"""The one place initlab's version is written (pyproject reads it; ``initlab.__version__``)."""

__version__ = "0.1.0"
