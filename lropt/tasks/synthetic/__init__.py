"""Synthetic task families: cheap, fully generated problems for meta-training.

Each family's ``sample(rng)`` draws a task configuration from its parameter
ranges; :data:`NAMED` holds fixed configurations served by ``get_task``.
"""

from __future__ import annotations

from ..seeding import as_rng
from .bag_of_words import BagOfWordsFamily
from .char_lm import CharLMFamily
from .conv import ConvFamily
from .quadratic import QuadraticFamily
from .regression import LinearRegressionFamily, LogisticRegressionFamily
from .teacher_mlp import TeacherMLPFamily

FAMILIES = {
    f.name: f
    for f in (
        TeacherMLPFamily,
        QuadraticFamily,
        LinearRegressionFamily,
        LogisticRegressionFamily,
        ConvFamily,
        CharLMFamily,
        BagOfWordsFamily,
    )
}

#: Fixed synthetic tasks: name -> (family, full configuration, description).
NAMED = {
    "quadratic-10d": (
        "quadratic",
        dict(dim=10, cond=100.0, scale=1.0, noise=0.1, rotate=True, init_scale=1.0, batch_size=16, steps=200),
        "10-d noisy quadratic, condition number 100",
    ),
    "quadratic-100d-ill": (
        "quadratic",
        dict(dim=100, cond=1e4, scale=1.0, noise=0.3, rotate=True, init_scale=1.0, batch_size=32, steps=500),
        "100-d noisy quadratic, condition number 1e4",
    ),
    "teacher-mlp-small": (
        "teacher_mlp",
        dict(
            d_in=16,
            n_classes=4,
            width=64,
            depth=2,
            activation="relu",
            teacher_width=32,
            teacher_depth=2,
            input_cond=3.0,
            label_noise=0.05,
            batch_size=64,
            steps=300,
        ),
        "2x64 ReLU MLP on a random teacher's 4-class labels",
    ),
    "linreg-ill": (
        "linear_regression",
        dict(dim=32, cond=1e4, n_out=1, noise=0.1, batch_size=32, steps=300),
        "32-d least squares, input condition number 1e4",
    ),
    "logreg-ill": (
        "logistic_regression",
        dict(dim=32, cond=1e4, n_out=2, margin=5.0, batch_size=32, steps=300),
        "32-d logistic regression, input condition number 1e4",
    ),
    "conv-bars": (
        "conv",
        dict(
            pattern="bars",
            image_size=12,
            channels=1,
            n_classes=4,
            width=8,
            depth=2,
            activation="relu",
            noise=0.3,
            batch_size=32,
            steps=300,
        ),
        "2-block conv net, 4 bar orientations on 12x12 images",
    ),
    "conv-blobs-rgb": (
        "conv",
        dict(
            pattern="blobs",
            image_size=16,
            channels=3,
            n_classes=6,
            width=8,
            depth=3,
            activation="gelu",
            noise=0.5,
            batch_size=32,
            steps=300,
        ),
        "3-block conv net, 6 blob positions on 16x16 RGB images",
    ),
    "char-lm-small": (
        "char_lm",
        dict(
            vocab=32,
            order=1,
            concentration=0.2,
            seq_len=32,
            model="gru",
            embed=16,
            hidden=64,
            context=3,
            activation="tanh",
            batch_size=16,
            steps=300,
        ),
        "GRU language model on a 32-token Markov stream",
    ),
    "char-lm-mlp": (
        "char_lm",
        dict(
            vocab=48,
            order=2,
            concentration=0.1,
            seq_len=32,
            model="mlp",
            embed=16,
            hidden=128,
            context=4,
            activation="gelu",
            batch_size=16,
            steps=300,
        ),
        "context-4 MLP language model on an order-2 Markov stream",
    ),
    "bow-small": (
        "bag_of_words",
        dict(
            vocab=1000,
            doc_len=64,
            n_classes=2,
            embed=32,
            hidden=32,
            dropout=0.0,
            zipf=1.1,
            informative=0.5,
            margin=16.0,
            label_noise=0.05,
            batch_size=32,
            train_rows=2000,
            steps=300,
        ),
        "bag-of-embeddings MLP on 2000 synthetic Zipf documents, 1000 words (sparse, overfits)",
    ),
}


def named_task(name: str, data_seed: int = 0, **overrides):
    """The fixed synthetic task ``name`` (its parameters can be overridden by keyword)."""
    family_name, config, description = NAMED[name]
    if "default_steps" in overrides:  # the name real tasks use for it
        overrides["steps"] = overrides.pop("default_steps")
    family = FAMILIES[family_name](**{**config, **overrides})
    resolved = family.SPACE.sample(family.params, as_rng(data_seed))
    task = family.make_task(resolved, data_seed, name=name)
    task.description = description
    return task


__all__ = ["FAMILIES", "NAMED", "named_task", *(cls.__name__ for cls in FAMILIES.values())]
