"""railwatch: watch cross-border rail logistics from Sentinel-2 imagery and press reporting."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("railwatch")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"

from railwatch.errors import RailwatchError, UserInputError

__all__ = ["RailwatchError", "UserInputError", "__version__"]
