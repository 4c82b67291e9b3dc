"""Real tasks whose data (and, for the text ones, pretrained model) must be downloaded.

Each takes ``data_dir=`` (or ``$LROPT_DATA_DIR``) and, for text, ``model=``
(or ``$LROPT_MODEL_DIR``) to run from local copies; without them the standard
hub loaders are used, and a missing download fails with a message that says
what to fetch and where to put it.
"""

from .text import DistilBertTask, agnews_distilbert, imdb_distilbert, sst2_distilbert
from .vision import ImageTask, cifar10_resnet18, fashion_mnist_mlp, mnist_mlp

__all__ = [
    "DistilBertTask",
    "ImageTask",
    "imdb_distilbert",
    "sst2_distilbert",
    "agnews_distilbert",
    "mnist_mlp",
    "fashion_mnist_mlp",
    "cifar10_resnet18",
]
