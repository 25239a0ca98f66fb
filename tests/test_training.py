"""The training loop: history, evaluation, warm-up/decay, atomic checkpoints, exact resume, bf16."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from xlm_course.training import TrainingConfig, latest_checkpoint, linear_warmup_decay, train


def make_problem(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.2), nn.Linear(8, 1))
    weights = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])

    def batch_fn(step):
        generator = torch.Generator().manual_seed(step)
        x = torch.randn(16, 4, generator=generator)
        return {"x": x, "y": x @ weights}

    def loss_fn(model, batch):
        error = model(batch["x"]) - batch["y"]
        return {"loss": (error**2).mean(), "mae": error.abs().mean()}

    return model, batch_fn, loss_fn


def test_training_lowers_the_loss_and_records_history():
    model, batch_fn, loss_fn = make_problem()
    history = train(model, loss_fn, batch_fn, TrainingConfig(steps=200, learning_rate=1e-2, warmup_steps=10,
                                                             progress=False, eval_every=50),
                    evaluate=lambda m: {"weight_norm": sum(p.norm().item() for p in m.parameters())})
    frame = history.frame()
    assert list(frame.columns) == ["lr", "loss", "mae"] and len(frame) == 200
    assert frame["loss"].iloc[-20:].mean() < 0.1 * frame["loss"].iloc[:20].mean()
    assert list(history.evaluation_frame().index) == [49, 99, 149, 199]
    assert not model.training  # handed back in eval mode


def test_schedule_warms_up_then_decays_to_zero():
    factor = linear_warmup_decay(TrainingConfig(steps=100, warmup_steps=10))
    assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
    assert factor(55) == pytest.approx(0.5) and factor(100) == 0.0


def test_checkpoints_are_complete_and_pruned(tmp_path):
    model, batch_fn, loss_fn = make_problem()
    train(model, loss_fn, batch_fn, TrainingConfig(steps=50, progress=False, checkpoint_every=10,
                                                   checkpoint_dir=tmp_path, keep_checkpoints=2))
    kept = sorted(path.name for path in tmp_path.iterdir())
    assert kept == ["step-0000039", "step-0000049"]  # older ones pruned, no temporary folder left
    assert {path.name for path in (tmp_path / "step-0000049").iterdir()} == {"model.safetensors", "state.pt"}
    state = torch.load(tmp_path / "step-0000049" / "state.pt", weights_only=True)  # no arbitrary unpickling
    assert state["step"] == 49 and len(state["losses"]) == 50


def test_interrupted_run_resumes_exactly(tmp_path):
    """Kill a run after its step-20 checkpoint; the resumed run ends with the uninterrupted weights."""
    _, batch_fn, loss_fn = make_problem()
    config = TrainingConfig(steps=40, learning_rate=1e-2, progress=False, seed=3, checkpoint_every=20,
                            checkpoint_dir=tmp_path / "a")
    reference, _, _ = make_problem()
    train(reference, loss_fn, batch_fn, TrainingConfig(steps=40, learning_rate=1e-2, progress=False, seed=3))

    class Interrupt(Exception):
        pass

    def stopping_batches(step):
        if step == 25:
            raise Interrupt
        return batch_fn(step)

    interrupted, _, _ = make_problem()
    with pytest.raises(Interrupt):
        train(interrupted, loss_fn, stopping_batches, config)
    assert latest_checkpoint(config.checkpoint_dir).name == "step-0000019"
    resumed, _, _ = make_problem(seed=7)  # different initial weights: everything must come from the checkpoint
    history = train(resumed, loss_fn, batch_fn, config)
    assert [record["step"] for record in history.losses] == list(range(40))
    for a, b in zip(resumed.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_bf16_autocast_trains():
    model, batch_fn, loss_fn = make_problem()
    history = train(model, loss_fn, batch_fn, TrainingConfig(steps=100, learning_rate=1e-2, precision="bf16",
                                                             progress=False))
    assert history.frame()["loss"].iloc[-10:].mean() < history.frame()["loss"].iloc[:10].mean()


def test_non_finite_loss_stops_with_advice():
    model, batch_fn, _ = make_problem()
    with pytest.raises(FloatingPointError, match="learning rate"):
        train(model, lambda m, b: {"loss": torch.tensor(float("nan"), requires_grad=True)}, batch_fn,
              TrainingConfig(steps=3, warmup_steps=0, progress=False))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"steps": 0}, "steps"), ({"steps": 10, "warmup_steps": 11}, "warmup_steps"),
    ({"steps": 10, "learning_rate": 0}, "learning_rate"), ({"steps": 10, "warmup_steps": 0, "checkpoint_every": 5}, "checkpoint_dir"),
    ({"steps": 10, "eval_every": 0}, "eval_every"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainingConfig(**kwargs)


@pytest.mark.parametrize("value", [0, -1e-3, float("inf"), float("nan"), True, "1e-3", None])
def test_positive_numbers_are_required_by_name(value):
    from xlm_course.training import check_positive_numbers

    class Config:
        learning_rate = value

    with pytest.raises(ValueError, match="learning_rate must be a positive number"):
        check_positive_numbers(Config(), "learning_rate")
    Config.learning_rate = 3e-4
    check_positive_numbers(Config(), "learning_rate")


# Bugs found by trying the course as a new user would; each of these failed before its fix.

def test_keep_checkpoints_zero_is_an_error_not_keep_everything(tmp_path):
    with pytest.raises(ValueError, match="keep_checkpoints must be a positive int or None"):
        TrainingConfig(steps=5, warmup_steps=0, keep_checkpoints=0)  # `[:-0]` used to be an empty slice: every checkpoint kept
    model, batch_fn, loss_fn = make_problem()
    train(model, loss_fn, batch_fn, TrainingConfig(steps=6, warmup_steps=0, progress=False, checkpoint_every=2,
                                                   checkpoint_dir=tmp_path, keep_checkpoints=None))
    assert len(list(tmp_path.glob("step-*"))) == 3  # None keeps them all


@pytest.mark.parametrize("changes, field", [
    ({"steps": True}, "steps"), ({"weight_decay": -0.1}, "weight_decay"), ({"weight_decay": "0.01"}, "weight_decay"),
    ({"max_grad_norm": 0}, "max_grad_norm"), ({"max_grad_norm": float("nan")}, "max_grad_norm"),
    ({"precision": "half"}, "precision"), ({"seed": -1}, "seed"), ({"batch_size": 0}, "batch_size"),
    ({"warmup_steps": 11}, "warmup_steps"), ({"eval_every": 0}, "eval_every"),
])
def test_every_field_of_the_base_config_is_validated(changes, field):
    with pytest.raises(ValueError, match=field):
        TrainingConfig(**{"steps": 10, "warmup_steps": 0, **changes})


def test_task_configs_extend_the_base_and_hand_the_loop_its_config():
    from xlm_course.applications.ner import NERConfig
    from xlm_course.applications.qa import DualEncoderConfig
    from xlm_course.applications.translation import TranslatorConfig
    from xlm_course.deployment.distillation import DistillationConfig
    from xlm_course.deployment.madx import LanguageAdapterConfig
    from xlm_course.multimodal import MultimodalConfig
    from xlm_course.training import RunConfig
    from xlm_course.transfer import FineTuneConfig

    for kind in (FineTuneConfig, DualEncoderConfig, MultimodalConfig, LanguageAdapterConfig, DistillationConfig,
                 NERConfig, TranslatorConfig):
        config = kind(steps=40, warmup_steps=4, learning_rate=1e-3, seed=2, device="cpu", precision="fp32")
        assert isinstance(config, RunConfig)
        loop = config.training(progress=False)
        assert type(loop) is TrainingConfig
        assert (loop.steps, loop.warmup_steps, loop.learning_rate, loop.seed, loop.device, loop.precision,
                loop.progress) == (40, 4, 1e-3, 2, "cpu", "fp32", False)
        with pytest.raises(ValueError, match="steps must be a positive int"):
            kind(steps=True, warmup_steps=0)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 500), st.data())
def test_the_schedule_stays_in_zero_one(steps, data):
    warmup = data.draw(st.integers(0, steps))
    factor = linear_warmup_decay(TrainingConfig(steps=steps, warmup_steps=warmup))
    values = [factor(step) for step in range(steps)]
    assert all(0.0 <= value <= 1.0 for value in values)
    assert max(values) == pytest.approx(1.0) or steps == warmup == 0


def test_step_generators_are_pure_functions_of_seed_and_step():
    from xlm_course.training import step_generator

    draw = lambda seed, step: torch.randint(1000, (5,), generator=step_generator(seed, step)).tolist()  # noqa: E731
    assert draw(0, 3) == draw(0, 3)
    assert draw(0, 3) != draw(0, 4) and draw(0, 3) != draw(1, 3)


def test_every_config_field_says_why_on_its_line():
    """nanoGPT's rule: each field of a run's configuration carries its reason beside it, not in a notebook."""
    import ast
    from pathlib import Path

    silent = []
    for module in sorted((Path(__file__).resolve().parents[1] / "xlm_course").rglob("*.py")):
        lines = module.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.ClassDef) and (node.name.endswith("Config") or node.name == "PretrainingSetup"):
                silent += [f"{module.name}: {node.name}.{field.target.id}" for field in node.body
                           if isinstance(field, ast.AnnAssign) and "#" not in lines[field.end_lineno - 1]]
    assert not silent, f"fields without a comment giving their reason: {silent}"


def test_weight_decay_follows_the_dimension_not_the_name():
    """Decay went by name ("norm" in it: no decay), so a projection called norm_proj was never decayed. Matrices
    decay and vectors do not, whatever they are called."""
    from xlm_course.training import _optimizer

    model = nn.Sequential()
    model.add_module("norm_proj", nn.Linear(3, 3))
    model.add_module("LayerNorm", nn.LayerNorm(3))
    decay, no_decay = _optimizer(model, TrainingConfig(steps=1, warmup_steps=0)).param_groups
    assert [tuple(p.shape) for p in decay["params"]] == [(3, 3)] and decay["weight_decay"] == 0.01
    assert sorted(tuple(p.shape) for p in no_decay["params"]) == [(3,), (3,), (3,)] and no_decay["weight_decay"] == 0
