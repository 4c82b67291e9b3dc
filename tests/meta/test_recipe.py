"""Recipes: the embedded default loads; bad keys and types are refused by name."""
from pathlib import Path

import pytest

import lropt
from lropt.meta.recipe import RecipeError, dump_toml, from_dict, load_recipe


def test_default_recipe_loads_and_round_trips(tmp_path):
    rec = load_recipe()
    assert rec.name == "default" and rec.tasks.train
    path = tmp_path / "r.toml"
    path.write_text(dump_toml(rec))
    assert load_recipe(path).to_dict() == rec.to_dict()


def test_overrides_are_typed():
    rec = load_recipe(None, ["outer.steps=7", "estimator.name=pes", "outer.lr=1", 'tasks.train=["quadratic"]'])
    assert rec.outer.steps == 7 and rec.estimator.name == "pes"
    assert rec.outer.lr == 1.0 and isinstance(rec.outer.lr, float)
    assert rec.tasks.train == ["quadratic"]


@pytest.mark.parametrize(
    "override, match",
    [
        ("outer.stepz=3", r"unknown recipe key outer.stepz \(did you mean 'steps'\?\)"),
        ("outr.steps=3", r"unknown recipe section 'outr' \(did you mean 'outer'\?\)"),
        ("outer.steps=many", r"outer.steps: expected int, got 'many'"),
        ("outer.steps=1.5", r"outer.steps: expected int"),
        ("estimator.name=sgd", r"estimator.name: must be one of"),
        ("estimator.objective=test", r"estimator.objective: must be one of"),
        ("inner.horizon_min=500", r"horizon_min/horizon_max"),
        ("inner.val_evals_max=10", r"inner.val_evals_max: must be 0 \(a fixed count\) or >= inner.val_evals >= 1"),
        ("steps", r"--set expects section.key=value"),
    ],
)
def test_bad_overrides_name_the_key(override, match):
    with pytest.raises(RecipeError, match=match):
        load_recipe(None, [override])


def test_validation_objective_needs_pes():
    assert load_recipe(None, ["estimator.name=pes", "estimator.objective=val"]).estimator.objective == "val"
    with pytest.raises(RecipeError, match=r"estimator.objective: must be 'train' unless estimator.name = 'pes'"):
        load_recipe(None, ["estimator.name=tbptt", "estimator.objective=val"])


def test_bad_files(tmp_path):
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[outer\nsteps = 3")
    with pytest.raises(RecipeError, match="not valid TOML"):
        load_recipe(bad)
    with pytest.raises(RecipeError, match="must be a table"):
        from_dict({"outer": 3})


def test_base_lr_shift_moves_the_sampled_base_lrs():
    import numpy as np

    from lropt.meta.trainer import MetaTrainer

    rec = load_recipe(None, ['tasks.train=["quadratic"]', "tasks.validation_count=1", "tasks.base_lr_shift=1.0",
                             "tasks.base_lr_spread=0.25", "estimator.name=tbptt"])
    trainer = MetaTrainer(rec, seed=0)
    spec = trainer._draw_spec()
    base = trainer.families[0].sample(spec.task_seed).base_lr(spec.optimizer)
    factors = np.log10(np.array(spec.base_lrs) / base)
    assert ((factors >= 0.75 - 1e-9) & (factors <= 1.25 + 1e-9)).all()


def test_a_range_of_validation_counts_is_drawn_per_group_and_sets_the_interval():
    from lropt.meta.trainer import MetaTrainer

    base = ['tasks.train=["quadratic"]', "tasks.validation_count=1", "estimator.name=tbptt", "inner.val_evals=4"]
    ranged = MetaTrainer(load_recipe(None, [*base, "inner.val_evals_max=100"]), seed=0)
    specs = [ranged._draw_spec() for _ in range(40)]
    counts = [s.val_evals for s in specs]
    assert all(4 <= c <= 100 for c in counts) and len(set(counts)) > 10
    assert sum(c < 20 for c in counts) > 10, "log-uniform: about half the draws below 20"
    group = ranged._build_group(specs[0])
    assert group.val_every == max(1, specs[0].horizon // specs[0].val_evals)
    for extra in ([], ["inner.val_evals_max=4"]):   # a fixed count
        fixed = MetaTrainer(load_recipe(None, base + extra), seed=0)
        assert all(fixed._draw_spec().val_evals == 4 for _ in range(5))


@pytest.mark.parametrize("path", sorted((Path(lropt.__file__).parent / "recipes").glob("*.toml")), ids=lambda p: p.stem)
def test_packaged_recipes_load_and_every_task_entry_samples(path):
    from lropt.meta.trainer import family_from_entry

    rec = load_recipe(path)
    for entry in rec.tasks.train + rec.tasks.validation:
        task = family_from_entry(entry).sample(0)
        inputs, targets = task.train_batch(0)
        assert len(targets) == task.batch_size
