"""Where an encoder comes from and what it says about a sentence (xlm_course.models.source)."""

import pytest
import torch

from xlm_course.models.source import embed


def test_embeddings_are_unit_length_and_checked(tiny_source):
    encoder = tiny_source.encoder()
    vectors = embed(encoder, tiny_source, ["dog", "chien", "Hund"], ["en", "fr", "de"], batch_size=2)
    assert vectors.shape == (3, 16)
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(3))
    with pytest.raises(ValueError, match="one language per text"):
        embed(encoder, tiny_source, ["dog"], ["en", "fr"])
