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


def test_profiles_grow_from_ci_to_hub():
    ci, colab, hub = (runtime.PROFILES[name] for name in ("ci", "colab", "hub"))
    assert ci.hidden_size < colab.hidden_size < hub.hidden_size
    assert hub.uses_hub_checkpoints and not ci.uses_hub_checkpoints


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
