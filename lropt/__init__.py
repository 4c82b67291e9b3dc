"""lropt: meta-learned learning-rate control for any torch optimizer."""
from ._version import __version__
from .controller import LRController
from .controller_file import load_controller, save_controller, shipped_controllers
from .wrapper import LROptimizerWrapper

__all__ = [
    "LROptimizerWrapper",
    "LRController",
    "load_controller",
    "save_controller",
    "shipped_controllers",
    "__version__",
]
