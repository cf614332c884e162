"""CryptoScreener-X domain library: pure, deterministic, no I/O frameworks, no wall clock."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cryptoscreener-x")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
