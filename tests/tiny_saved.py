"""Tiny random-weight models saved with their tokenizers / processors, so ``mmgen.load(dir)`` and
``mmgen <command> --model dir`` read them like a downloaded checkpoint. Offline, seeded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tiny_vision as tv
import torch
import transformers as T
from PIL import Image
from tiny_models import tiny_model
from tiny_tokenizers import byte_level_bpe, model_for

T.utils.logging.disable_progress_bar()

CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")
NLLB_LANGS = ["eng_Latn", "fra_Latn", "deu_Latn", "spa_Latn"]
MARIAN_TARGETS = [">>fra<<", ">>deu<<"]
SMALL = dict(d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
             encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128)


def _save(path: Path, model: torch.nn.Module, *parts) -> Path:
    path = Path(path)
    model.save_pretrained(path)
    for part in parts:
        part.save_pretrained(path)
    return path


def save_gpt2(path: Path, chat: bool = True) -> Path:
    """GPT-2 over a byte-level BPE (with a chat template when ``chat``)."""
    tokenizer = byte_level_bpe()
    if chat:
        tokenizer.chat_template = CHAT_TEMPLATE
    return _save(path, model_for(tokenizer, "gpt2"), tokenizer)


def save_wide_gpt2(path: Path, width: int = 384, seed: int = 0) -> Path:
    """One GPT-2 block ``width`` wide over a byte-level BPE: every projection and the output layer are large enough
    for ``mmgen.quantize``'s size rule (384 x 384 and up), where the demo models' (128 wide) all stay float32."""
    tokenizer = byte_level_bpe()
    config = T.GPT2Config(vocab_size=len(tokenizer), n_embd=width, n_layer=1, n_head=4, n_positions=128,
                          bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                          pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    return _save(path, T.GPT2LMHeadModel(config).eval(), tokenizer)


def save_seq2seq(path: Path, name: str = "bart", task_specific_params: dict | None = None) -> Path:
    """A tiny encoder-decoder (``bart``, ``t5``, ``marian``, ...) over a byte-level BPE."""
    tokenizer = byte_level_bpe()
    model = model_for(tokenizer, name)
    if task_specific_params is not None:
        model.config.task_specific_params = task_specific_params
    return _save(path, model, tokenizer)


def save_marian_multi(path: Path) -> Path:
    """Marian with ``>>fra<<`` / ``>>deu<<`` target tokens in its vocabulary (opus-mt-en-mul style)."""
    tokenizer = byte_level_bpe()
    tokenizer.add_special_tokens({"additional_special_tokens": MARIAN_TARGETS})
    return _save(path, model_for(tokenizer, "marian"), tokenizer)


def nllb_tokenizer() -> T.NllbTokenizer:
    """NLLB conventions (source: [src_lang] text </s>; codes like "fra_Latn") over a letter vocabulary."""
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "▁": 4}
    vocab.update({c: 5 + i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")})
    return T.NllbTokenizer(vocab=vocab, merges=[], additional_special_tokens=NLLB_LANGS, src_lang="eng_Latn")


def nllb_model(vocab_size: int = 64, seed: int = 0) -> torch.nn.Module:
    """Tiny M2M100 (NLLB's architecture); a large init_std so rows and languages decode differently."""
    config = T.M2M100Config(vocab_size=vocab_size, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                            decoder_start_token_id=2, init_std=0.3, **SMALL)
    torch.manual_seed(seed)
    return T.M2M100ForConditionalGeneration(config).eval()


def save_nllb(path: Path) -> Path:
    return _save(path, nllb_model(), nllb_tokenizer())


def save_captioner(path: Path) -> Path:
    """ViT + GPT-2 (VisionEncoderDecoderModel) with its image processor and tokenizer: unconditional captions."""
    return _save(path, tv.vision_encoder_decoder(), T.ViTImageProcessorPil(), byte_level_bpe())


def save_blip(path: Path) -> Path:
    """BLIP captioning with its processor (prefix prompts)."""
    processor = T.BlipProcessor(image_processor=T.BlipImageProcessorPil(), tokenizer=tv.bert_tokenizer())
    return _save(path, tv.blip(), processor)


def write_images(folder: Path, count: int = 3, sizes=((80, 60), (50, 90), (64, 64)), prefix: str = "img") -> list[Path]:
    """``count`` PNG files of tiny_vision's test images in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    images = tv.images(tuple(sizes[i % len(sizes)] for i in range(count)))
    paths = []
    for i, image in enumerate(images):
        paths.append(folder / f"{prefix}{i}.png")
        image.save(paths[-1])
    return paths


def write_corrupt_image(path: Path) -> Path:
    """A file named like a PNG whose bytes are not an image."""
    path.write_bytes(b"\x89PNG\r\n\x1a\n this is not really an image")
    return path


def random_image(seed: int = 0) -> Image.Image:
    rng = np.random.RandomState(seed)
    return Image.fromarray((rng.rand(32, 32, 3) * 255).astype("uint8"))


__all__ = ["CHAT_TEMPLATE", "MARIAN_TARGETS", "NLLB_LANGS", "nllb_model", "nllb_tokenizer", "random_image",
           "save_blip", "save_captioner", "save_gpt2", "save_marian_multi", "save_nllb", "save_seq2seq",
           "save_wide_gpt2", "tiny_model", "write_corrupt_image", "write_images"]


VLM_CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}{% endfor %}"
    "{% endif %}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}")


def save_llava(path: Path, seed: int = 0) -> Path:
    """LLaVA (CLIP 224 px, 32 px patches: 49 image tokens + Llama) with a LlavaProcessor and a chat template."""
    tokenizer = byte_level_bpe()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    image_token = tokenizer.convert_tokens_to_ids("<image>")
    vision = T.CLIPVisionConfig(hidden_size=32, image_size=224, patch_size=32, projection_dim=32, num_hidden_layers=2,
                                num_attention_heads=2, intermediate_size=64)
    text = T.LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2)
    config = T.LlavaConfig(vision_config=vision, text_config=text, image_token_id=image_token, pad_token_id=0,
                           bos_token_id=1, eos_token_id=2)
    torch.manual_seed(seed)
    model = T.LlavaForConditionalGeneration(config).eval()
    processor = T.LlavaProcessor(image_processor=T.CLIPImageProcessorPil(), tokenizer=tokenizer, patch_size=32,
                                 vision_feature_select_strategy="default", chat_template=VLM_CHAT_TEMPLATE,
                                 image_token="<image>", num_additional_image_tokens=1)
    return _save(path, model, processor)
