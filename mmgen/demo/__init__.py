"""Small trained demo models shipped inside the package, so examples and tests run offline.

    from mmgen.demo import demo_path
    model = MarianMTModel.from_pretrained(demo_path("demo/translate"))

Each model folder under ``models/`` holds safetensors weights, config, generation config,
tokenizer or processor files and a model card (README.md) saying what it was trained on, how
well it does and how to retrain it (``python -m mmgen.demo.train_<name>``). The grammars and
scene renderer that made the training data (`grammar`, `speech`, `reports`, `scenes`) also make
held-out data.
"""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).parent / "models"
PREFIX = "demo/"

# short name -> folder under models/
DEMO_MODELS: dict[str, str] = {
    "demo/translate": "translate",  # Marian, English number phrases -> French
    "demo/lm": "lm",  # Llama, counting in English words
    "demo/lm-draft": "lm-draft",  # 1-layer draft of demo/lm (same tokenizer), for speculative decoding
    "demo/caption": "caption",  # ViT + GPT-2, captions of rendered shapes
    "demo/asr": "asr",  # Whisper, synthetic English speech (espeak-ng digits, numbers, commands) -> text
    "demo/tts": "tts",  # SpeechT5, the same grammar -> mel spectrogram (Griffin-Lim audio), one espeak-ng voice
    "demo/summarize": "summarize",  # BART, home reports -> their facts in one line
}


class UnknownDemoModel(LookupError):
    """A ``demo/...`` name that is not in `DEMO_MODELS`."""


def is_demo_name(name: str) -> bool:
    return str(name).startswith(PREFIX)


def demo_path(name: str) -> Path:
    """The folder of a shipped demo model: ``demo_path("demo/translate")`` (the ``demo/`` prefix may be left out)."""
    key = name if is_demo_name(name) else PREFIX + name
    if key not in DEMO_MODELS:
        valid = ", ".join(sorted(DEMO_MODELS))
        raise UnknownDemoModel(f"No demo model named {name!r}. The demo models are: {valid}.")
    return MODELS_DIR / DEMO_MODELS[key]


__all__ = ["DEMO_MODELS", "MODELS_DIR", "UnknownDemoModel", "demo_path", "is_demo_name"]
