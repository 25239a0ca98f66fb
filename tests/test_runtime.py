import pytest
import torch

from xlm_course import runtime


def test_default_profile_is_ci(monkeypatch):
    monkeypatch.delenv(runtime.PROFILE_VARIABLE, raising=False)
    assert runtime.get_profile().name == "ci"


@pytest.mark.parametrize("name", ["ci", "colab", "hub", " Colab "])
def test_every_profile_loads(monkeypatch, name):
    monkeypatch.setenv(runtime.PROFILE_VARIABLE, name)
    assert runtime.get_profile().name == name.strip().lower()


def test_unknown_profile_lists_the_valid_ones(monkeypatch):
    monkeypatch.setenv(runtime.PROFILE_VARIABLE, "laptop")
    with pytest.raises(ValueError, match="laptop.*Valid profiles: ci, colab, hub"):
        runtime.get_profile()


def test_colab_is_larger_than_ci_and_hub_pretrains_nothing_larger_than_ci():
    ci, colab, hub = (runtime.PROFILES[name] for name in ("ci", "colab", "hub"))
    assert ci.hidden_size < colab.hidden_size and ci.num_layers < colab.num_layers
    assert hub.uses_hub_checkpoints and not ci.uses_hub_checkpoints and not colab.uses_hub_checkpoints
    sizes = ("hidden_size", "num_layers", "num_heads", "vocab_size", "max_seq_len", "batch_size", "train_steps")
    assert all(getattr(hub, size) == getattr(ci, size) for size in sizes) and hub.pretrains_as == "ci"


def test_a_setup_made_under_hub_is_the_ci_setup_and_shares_its_cache_entry(monkeypatch):
    from xlm_course.pretraining import PretrainingSetup

    monkeypatch.setenv(runtime.PROFILE_VARIABLE, "ci")
    under_ci = PretrainingSetup().resolved()
    monkeypatch.setenv(runtime.PROFILE_VARIABLE, "hub")
    assert PretrainingSetup().resolved() == under_ci
    monkeypatch.setenv(runtime.PROFILE_VARIABLE, "colab")
    assert PretrainingSetup().resolved() != under_ci


def test_seed_everything_repeats_random_draws():
    first = runtime.seed_everything(7)
    a = (torch.rand(3), torch.rand(3, generator=first))
    second = runtime.seed_everything(7)
    b = (torch.rand(3), torch.rand(3, generator=second))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_bad_seed_is_rejected(seed):
    with pytest.raises(ValueError, match="non-negative int"):
        runtime.seed_everything(seed)


def test_device_choice():
    assert runtime.choose_device("cpu").type == "cpu"
    assert runtime.choose_device(profile=runtime.PROFILES["ci"]).type == "cpu"
    with pytest.raises(ValueError, match="Accepted: cpu, cuda, mps"):
        runtime.choose_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="cuda"):
            runtime.choose_device("cuda")


def test_threads():
    assert runtime.set_threads(1) == 1 and torch.get_num_threads() == 1
    with pytest.raises(ValueError, match="positive int"):
        runtime.set_threads(0)
    runtime.set_threads()


def test_offline_is_detected_without_touching_the_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert runtime.is_offline_forced() and not runtime.is_online()


def test_banner_names_versions_device_and_profile(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    text = runtime.banner(runtime.PROFILES["ci"], torch.device("cpu"))
    for needle in ("profile   : ci", "device    : cpu", "torch", "transformers", "offline (forced)"):
        assert needle in text


def test_setup_returns_its_choices(capsys):
    chosen = runtime.setup(seed=3)
    assert chosen.seed == 3 and chosen.device.type in {"cpu", "cuda", "mps"}
    assert "profile" in capsys.readouterr().out


def test_precision_follows_the_hardware(monkeypatch):
    monkeypatch.delenv(runtime.PRECISION_VARIABLE, raising=False)
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: True)
    assert runtime.choose_precision("cpu") == "bf16"
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: False)
    assert runtime.choose_precision("cpu") == "fp32"
    assert runtime.choose_precision("mps") == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert runtime.choose_precision("cuda") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert runtime.choose_precision("cuda") == "fp16"  # a T4: fp16 with a gradient scaler


def test_precision_can_be_chosen_but_not_an_impossible_one(monkeypatch):
    monkeypatch.setenv(runtime.PRECISION_VARIABLE, "fp32")
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: True)
    assert runtime.choose_precision("cpu") == "fp32"  # the variable wins over the hardware
    assert runtime.choose_precision("cpu", "bf16") == "bf16"  # and an argument over the variable
    with pytest.raises(ValueError, match="fp16 autocast needs a CUDA device"):
        runtime.choose_precision("cpu", "fp16")
    with pytest.raises(ValueError, match="Accepted: fp32, bf16, fp16"):
        runtime.choose_precision("cpu", "float16")


def test_setup_chooses_device_and_precision_once_for_every_helper(capsys):
    chosen = runtime.setup(seed=0, device="cpu", precision="fp32")
    assert (chosen.device, chosen.precision) == (torch.device("cpu"), "fp32")
    assert runtime.resolve() == (torch.device("cpu"), "fp32")
    assert runtime.resolve(precision="bf16") == (torch.device("cpu"), "bf16")  # an explicit argument wins
    assert "precision : fp32" in capsys.readouterr().out


def test_autocast_is_a_no_op_in_fp32_and_casts_in_bf16():
    a = torch.randn(4, 4)
    with runtime.autocast("cpu", "fp32"):
        assert (a @ a).dtype == torch.float32
    with runtime.autocast("cpu", "bf16"):
        assert (a @ a).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="Unknown precision"):
        runtime.autocast("cpu", "int8")


def test_concurrent_processes_share_the_cores(monkeypatch):
    monkeypatch.setattr(runtime, "available_cores", lambda: 2)
    monkeypatch.setenv(runtime.CONCURRENCY_VARIABLE, "2")
    assert runtime.concurrency() == 2 and runtime.set_threads() == 1
    monkeypatch.setenv(runtime.CONCURRENCY_VARIABLE, "4")
    assert runtime.set_threads() == 1  # never fewer than one thread
    monkeypatch.delenv(runtime.CONCURRENCY_VARIABLE)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    assert runtime.set_threads() == 2
    monkeypatch.setenv(runtime.CONCURRENCY_VARIABLE, "two")
    with pytest.raises(ValueError, match="positive int"):
        runtime.concurrency()
    runtime.set_threads(1)


def test_evaluating_moves_the_model_and_turns_off_gradients():
    model = torch.nn.Linear(3, 2).train()
    with runtime.evaluating(model, "cpu", "fp32") as device:
        assert device == torch.device("cpu") and not model.training and not torch.is_grad_enabled()
