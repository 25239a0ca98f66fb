"""Spoken emoji names, synthesised offline with eSpeak NG (chapter 3.7).

``espeakng-loader`` ships the eSpeak NG speech synthesiser as a shared library, with its voices and pronunciation
data for about 100 languages. eSpeak NG is a *formant* synthesiser: robotic, but intelligible, deterministic and
fast (a name in about a millisecond), and entirely offline. The library is called through ``ctypes``: initialise
once, choose a voice, synthesise, and collect the 16-bit samples the library hands to a callback.

eSpeak NG carries a little state from one utterance to the next (the same text spoken twice can differ by a
few samples), so audio is reproducible per *sequence* of calls: the same calls in a fresh process give the same
samples. Limits worth knowing: eSpeak NG's Japanese voice reads kana but says every kanji as the English words "Chinese
letter" (a test checks), so Japanese is left out of :data:`SPEECH_VOICES`; its Arabic reads unvowelled script with guessed vowels.

Licence: eSpeak NG is GPL-3.0-or-later; the synthesised audio is generated data, not part of the program.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from functools import cache

import numpy as np

# The course's language tags and eSpeak NG's voice names (Mandarin is 'cmn').
SPEECH_VOICES: dict[str, str] = {"en": "en", "zh-Hans": "cmn", "ar": "ar", "fr": "fr", "de": "de", "es": "es",
                                 "ru": "ru"}
_SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS: samples go to the callback, nothing to a sound card
_UTF8 = 1  # espeakCHARS_UTF8
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _ESpeak:
    """The eSpeak NG library, initialised once per process."""

    def __init__(self) -> None:
        try:
            import espeakng_loader

            self.library = ctypes.CDLL(espeakng_loader.get_library_path())
            data = espeakng_loader.get_data_path()
        except (ImportError, OSError, RuntimeError) as error:
            raise RuntimeError(f"eSpeak NG could not be loaded from the espeakng-loader package ({error}); "
                               "install it with `pip install espeakng-loader`") from error
        self.sample_rate = self.library.espeak_Initialize(_SYNCHRONOUS, 0, data.encode(), 0)
        if self.sample_rate <= 0:
            raise RuntimeError(f"eSpeak NG failed to initialise with its data at {data}")
        self._chunks: list[np.ndarray] = []

        def collect(samples, count, events):  # called by the library while it synthesises
            if count > 0:
                self._chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
            return 0

        self._callback = _CALLBACK(collect)  # kept alive on the instance: the library holds only a pointer
        self.library.espeak_SetSynthCallback(self._callback)
        self._voice: str | None = None

    def say(self, text: str, voice: str) -> np.ndarray:
        if voice != self._voice:
            if self.library.espeak_SetVoiceByName(voice.encode()) != 0:
                raise RuntimeError(f"eSpeak NG has no voice {voice!r}")
            self._voice = voice
        self._chunks.clear()
        encoded = text.encode("utf-8")
        status = self.library.espeak_Synth(encoded, len(encoded) + 1, 0, 0, 0, _UTF8, None, None)
        if status != 0:
            raise RuntimeError(f"eSpeak NG could not synthesise {text!r} (error {status})")
        samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)
        return samples.astype(np.float32) / 32768.0

    def phonemes(self, text: str, voice: str) -> str:
        """What eSpeak NG would say for ``text``, in its phoneme notation (``(en)`` marks a switch to English)."""
        self.say(" ", voice)  # selects the voice
        self.library.espeak_TextToPhonemes.restype = ctypes.c_char_p
        pointer = ctypes.c_char_p(text.encode("utf-8"))
        said = self.library.espeak_TextToPhonemes(ctypes.byref(pointer), _UTF8, 0)
        return said.decode("utf-8")


@cache
def _engine() -> _ESpeak:
    return _ESpeak()


def sample_rate() -> int:
    """Samples per second of eSpeak NG's output (22,050)."""
    return _engine().sample_rate


def synthesise(text: str, lang: str) -> np.ndarray:
    """``text`` spoken in ``lang`` by eSpeak NG: mono float32 samples in [-1, 1] at :func:`sample_rate`."""
    if lang not in SPEECH_VOICES:
        raise ValueError(f"no speech voice for {lang!r}; the voices are for {sorted(SPEECH_VOICES)}")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty string, got {text!r}")
    return _engine().say(text, SPEECH_VOICES[lang])


def synthesise_all(texts: Sequence[str], languages: Sequence[str]) -> list[np.ndarray]:
    """One waveform per (text, language)."""
    if len(texts) != len(languages):
        raise ValueError(f"need one language per text, got {len(texts)} texts and {len(languages)} languages")
    return [synthesise(text, lang) for text, lang in zip(texts, languages, strict=True)]
