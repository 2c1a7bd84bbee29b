"""Fixtures of the output-adapter tests: tiny random audio models, built once per session."""

import pytest
import tiny_audio


@pytest.fixture(scope="session")
def tts():
    return tiny_audio.speecht5()


@pytest.fixture(scope="session")
def hifigan():
    return tiny_audio.hifigan()


@pytest.fixture(scope="session")
def texts():
    """(input_ids, attention_mask, speaker_embeddings) of three texts of unequal length."""
    ids, mask = tiny_audio.texts()
    return ids, mask, tiny_audio.speakers(3)


@pytest.fixture(scope="session")
def music():
    return tiny_audio.musicgen()
