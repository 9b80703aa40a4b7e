"""cardiosbi: simulation-based inference of cardiovascular biomarkers from APW and PPG."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cardiosbi")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
