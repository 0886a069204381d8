"""The toolkit's version: the one place it is written (``wpgd.__version__``, ``wpgd --version`` and
pyproject.toml's dynamic version read it from here)."""

__version__ = "0.1.0"
