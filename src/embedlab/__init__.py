"""embedlab: the tested code behind *From Similarity to Probability*.

One small module per concept; each module's docstring names the chapter that teaches it.
Importing the package has no side effects (no seeding, no device probing, no downloads).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("embedlab")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
