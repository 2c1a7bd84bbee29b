"""mmgen.load: the Auto class from the config, the processor parts, defaults, and errors that name the fix."""

from __future__ import annotations

from pathlib import Path

import huggingface_hub.constants
import pytest
import tiny_vision as tv
import torch
import transformers as T
from tiny_tokenizers import byte_level_bpe, model_for

from mmgen import registry
from mmgen.generator import Generator, LoadError, auto_class_for, load
from mmgen.inputs.adapters import AudioAdapter, ImageAdapter, TextAdapter

T.utils.logging.disable_progress_bar()


def save_text_model(path, name: str = "gpt2"):
    tokenizer = byte_level_bpe()
    model = model_for(tokenizer, name)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer


def _speecht5() -> T.PreTrainedConfig:
    return T.SpeechT5Config(architectures=["SpeechT5ForTextToSpeech"])


def _vision_encoder_decoder() -> T.PreTrainedConfig:
    return tv.vision_encoder_decoder().config


@pytest.mark.parametrize("make_config, expected", [
    (lambda: T.GPT2Config(architectures=["GPT2LMHeadModel"]), T.AutoModelForCausalLM),
    (lambda: T.T5Config(architectures=["T5ForConditionalGeneration"]), T.AutoModelForSeq2SeqLM),
    (lambda: T.BartConfig(), T.AutoModelForSeq2SeqLM),  # no architectures: the model type decides
    (lambda: T.BartConfig(architectures=["BartForCausalLM"]), T.AutoModelForCausalLM),
    (lambda: T.Speech2TextConfig(architectures=["Speech2TextForConditionalGeneration"]), T.AutoModelForSpeechSeq2Seq),
    (lambda: T.WhisperConfig(architectures=["WhisperForConditionalGeneration"]), T.AutoModelForSpeechSeq2Seq),
    (_vision_encoder_decoder, T.AutoModelForImageTextToText),
    (lambda: T.BlipConfig(architectures=["BlipForConditionalGeneration"]), T.AutoModelForImageTextToText),
    (lambda: T.LlavaConfig(architectures=["LlavaForConditionalGeneration"]), T.AutoModelForImageTextToText),
    (_speecht5, T.AutoModelForTextToSpectrogram),
    (lambda: T.VitsConfig(architectures=["VitsModel"]), T.AutoModelForTextToWaveform),
], ids=["gpt2", "t5", "bart-no-arch", "bart-causal", "speech2text", "whisper", "vision-encoder-decoder", "blip",
        "llava", "speecht5", "vits"])
def test_auto_class_from_config(make_config, expected):
    assert auto_class_for(make_config()) is expected


def test_a_model_that_does_not_generate_is_refused():
    with pytest.raises(LoadError, match="cannot generate with model_type='vit'"):
        auto_class_for(T.ViTConfig(architectures=["ViTForImageClassification"]))


def test_load_a_local_causal_lm(tmp_path):
    model, tokenizer = save_text_model(tmp_path)
    generator = load(tmp_path, device="cpu")
    assert isinstance(generator, Generator)
    assert type(generator.model) is T.GPT2LMHeadModel
    assert not generator.model.training
    assert isinstance(generator.adapter, TextAdapter) and generator.adapter.padding_side == "left"
    assert generator.tokenizer.get_vocab() == tokenizer.get_vocab()
    assert generator.processor is generator.tokenizer
    for name, value in model.state_dict().items():
        assert torch.equal(generator.model.state_dict()[name], value)


def test_load_a_local_seq2seq_lm(tmp_path):
    save_text_model(tmp_path, "bart")
    generator = load(str(tmp_path), device=torch.device("cpu"))
    assert type(generator.model) is T.BartForConditionalGeneration
    assert generator.adapter.padding_side == "right"


def test_image_model_keeps_both_processor_parts(tmp_path):
    """No processor class for a VisionEncoderDecoderModel: the tokenizer and image processor load separately."""
    tv.vision_encoder_decoder().save_pretrained(tmp_path)
    T.ViTImageProcessorPil().save_pretrained(tmp_path)
    byte_level_bpe().save_pretrained(tmp_path)
    generator = load(tmp_path, device="cpu")
    assert type(generator.model) is T.VisionEncoderDecoderModel
    # transformers loads its torchvision variant of the saved processor where torchvision is installed
    assert isinstance(generator.components.image_processor, (T.ViTImageProcessorPil, T.ViTImageProcessor))
    assert generator.tokenizer is not None and generator.components.processor is None
    assert isinstance(generator.adapter, ImageAdapter)


def test_audio_model_gets_the_audio_adapter(tmp_path):
    config = T.Speech2TextConfig(vocab_size=96, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                                 decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, conv_channels=8)
    T.Speech2TextForConditionalGeneration(config).save_pretrained(tmp_path)
    T.Speech2TextFeatureExtractor().save_pretrained(tmp_path)
    byte_level_bpe().save_pretrained(tmp_path)
    generator = load(tmp_path, device="cpu")
    assert isinstance(generator.adapter, AudioAdapter) and generator.adapter.rate == 16_000


def test_dtype_defaults_and_from_pretrained_arguments(tmp_path):
    save_text_model(tmp_path)
    generator = load(tmp_path, device="cpu", dtype=torch.bfloat16, max_new_tokens=3, attn_implementation="eager")
    assert generator.model.dtype == torch.bfloat16
    assert generator.model.config._attn_implementation == "eager"
    assert generator.defaults == {"max_new_tokens": 3}
    assert [len(r.tokens) for r in generator.generate(["the cat", "hello"])] == [3, 3]
    assert len(generator.generate("the cat", max_new_tokens=5)[0].tokens) == 5  # a call's option wins


def test_missing_directory_names_the_path(tmp_path):
    with pytest.raises(LoadError, match="no such directory"):
        load(tmp_path / "nowhere")
    with pytest.raises(LoadError, match="has no config.json"):
        load(tmp_path)


def test_missing_hub_model_offline_says_how_to_point_at_a_local_copy(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(OSError) as raised:
        load("nobody/missing-model", local_files_only=True)
    message = str(raised.value)
    assert isinstance(raised.value, LoadError)
    assert "'nobody/missing-model'" in message
    assert "HF_HUB_OFFLINE=1" in message
    assert "huggingface-cli download nobody/missing-model" in message
    assert "local copy" in message


def test_registry_short_names(tmp_path, monkeypatch):
    assert registry.resolve_model_path("team/tiny") == "team/tiny"  # nothing registered: the name itself
    save_text_model(tmp_path)
    monkeypatch.setitem(registry.MODELS, "team/tiny", str(tmp_path))
    assert registry.resolve_model_path("team/tiny") == str(tmp_path)
    assert type(load("team/tiny", device="cpu").model) is T.GPT2LMHeadModel


def test_demo_names_resolve_to_the_shipped_models_and_samples():
    path = registry.resolve_model_path("demo/translate")
    assert path.endswith("translate") and (Path(path) / "config.json").is_file()
    with pytest.raises(LookupError, match="demo/translate"):  # an unknown demo name lists the valid ones
        registry.resolve_model_path("demo/nothing")
    sample = registry.resolve_input_path("demo/samples/sentences_en.txt")
    assert Path(sample).is_file()
    assert registry.resolve_input_path("elsewhere/file.txt") == "elsewhere/file.txt"
