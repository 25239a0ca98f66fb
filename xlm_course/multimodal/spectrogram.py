"""Log-mel spectrograms, written out with torch.stft (chapter 3.7).

A spectrogram shows how much energy each frequency has in each short window of a waveform: a short-time Fourier
transform with a Hann window of ``n_fft`` samples every ``hop_length`` samples, squared magnitudes. The mel scale,
m = 2595·log10(1 + f/700), spaces frequencies as hearing does (finely at low frequency, coarsely at high); a bank
of ``n_mels`` triangular filters, equally spaced in mels, sums the power spectrum into mel bands, and a log
compresses its huge dynamic range. The result is the usual input of a speech encoder.
"""

from __future__ import annotations

import numpy as np
import torch

from ..validation import check_positive_int


def hz_to_mel(hz: torch.Tensor | float) -> torch.Tensor:
    """The mel value of a frequency in Hz (HTK formula)."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(hz, dtype=torch.float64) / 700.0)


def mel_to_hz(mel: torch.Tensor | float) -> torch.Tensor:
    """The inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (torch.as_tensor(mel, dtype=torch.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0,
                   f_max: float | None = None) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) triangular filters, equally spaced in mels between ``f_min`` and ``f_max``."""
    for name, value in (("n_fft", n_fft), ("sample_rate", sample_rate)):
        check_positive_int(name, value)
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 ≤ f_min < f_max ≤ sample_rate / 2 = {sample_rate / 2}, got {f_min}, {f_max}")
    check_positive_int("n_mels", n_mels)
    frequencies = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2,
                                     dtype=torch.float64))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (frequencies - lower) / (centre - lower)
    falling = (upper - frequencies) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


def log_mel_spectrogram(audio: np.ndarray | torch.Tensor, sample_rate: int, n_mels: int = 40, n_fft: int = 512,
                        hop_length: int = 256, floor: float = 1e-6) -> torch.Tensor:
    """(n_mels, frames) log mel-band energies of a mono waveform."""
    check_positive_int("hop_length", hop_length)
    audio = torch.as_tensor(np.asarray(audio), dtype=torch.float32)
    if audio.ndim != 1 or audio.numel() == 0:
        raise ValueError(f"audio must be a non-empty 1-D waveform, got shape {tuple(audio.shape)}")
    if audio.numel() < n_fft:
        audio = torch.nn.functional.pad(audio, (0, n_fft - audio.numel()))
    spectrum = torch.stft(audio, n_fft, hop_length=hop_length, window=torch.hann_window(n_fft), center=True,
                          return_complex=True)
    power = spectrum.abs() ** 2
    return torch.log(mel_filterbank(n_mels, n_fft, sample_rate) @ power + floor)


def fixed_frames(spectrogram: torch.Tensor, frames: int, pad_value: float | None = None) -> torch.Tensor:
    """Crop or pad (with the spectrogram's minimum: silence) the time axis to exactly ``frames``."""
    if spectrogram.ndim != 2:
        raise ValueError(f"expected (n_mels, frames), got shape {tuple(spectrogram.shape)}")
    check_positive_int("frames", frames)
    if spectrogram.shape[1] >= frames:
        return spectrogram[:, :frames]
    value = float(spectrogram.min()) if pad_value is None else pad_value
    return torch.nn.functional.pad(spectrogram, (0, frames - spectrogram.shape[1]), value=value)
