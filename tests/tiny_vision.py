"""Tiny seeded random-weight image-to-text models, their image processors and test images, built offline.

Image processors are the transformers classes with their default constructor arguments (the PIL
backends, so torchvision is not needed); the tiny vision configs take the image size those
processors produce (224 for ViT/CLIP, 384 for BLIP) with large patches, so each image is a
handful of tokens. Text side: vocab 96, pad 0; the BERT-style ids below for BLIP and GIT.
"""

from __future__ import annotations

import numpy as np
import torch
import transformers as T
from PIL import Image
from tokenizers import Tokenizer, models, pre_tokenizers, processors

VOCAB = 96
PAD, BOS, EOS = 0, 1, 2
# BERT-style special ids (BLIP, GIT): [CLS] starts a prompt, [SEP] ends it; BLIP's decoder bos is [DEC].
CLS, SEP, DEC = 3, 4, 5
WORDS = ["a", "picture", "of", "photo", "an", "image", "the", "cat", "dog", "on", "mat", "what", "is", "this", "?"]
# Image placeholder ids of the VLMs (the prompt holds one per image feature).
IMAGE_TOKEN = 90
VISION_START, VISION_END, VIDEO_TOKEN = 91, 92, 93

_LAYERS = dict(num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
_SPECIAL = dict(pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS)


def images(sizes: tuple[tuple[int, int], ...] = ((80, 60), (50, 90), (64, 64)), seed: int = 0) -> list[Image.Image]:
    """RGB images of the given (width, height)s: coarse random colour blocks, so each looks different."""
    rng = np.random.RandomState(seed)
    blocks = [Image.fromarray((rng.rand(4, 4, 3) * 255).astype("uint8")) for _ in sizes]
    return [b.resize(size, Image.NEAREST) for b, size in zip(blocks, sizes)]


def bert_tokenizer() -> T.PreTrainedTokenizerFast:
    """Word-level tokenizer with BERT's template ([CLS] text [SEP]) and right padding, like BLIP's and GIT's."""
    vocab = {"[PAD]": PAD, "[UNK]": 1, "[unused0]": 2, "[CLS]": CLS, "[SEP]": SEP, "[DEC]": DEC}
    vocab.update({w: 6 + i for i, w in enumerate(WORDS)})
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", CLS), ("[SEP]", SEP)])
    return T.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                     sep_token="[SEP]", bos_token="[DEC]", padding_side="right")


def _seeded(model_class, config, seed: int, std: float = 0.3) -> torch.nn.Module:
    """The model with every matrix drawn from N(0, std): transformers' default init (std 0.02) leaves a
    tiny random model blind to its image, so every row would get the same caption."""
    torch.manual_seed(seed)
    model = model_class(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim > 1:
                parameter.normal_(0.0, std)
    return model


def vision_encoder_decoder(seed: int = 0) -> torch.nn.Module:
    """ViT encoder (224 px, 32 px patches: 49 + 1 tokens) + GPT-2 decoder with cross-attention."""
    encoder = T.ViTConfig(hidden_size=32, image_size=224, patch_size=32, **_LAYERS)
    decoder = T.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=2, n_positions=128, add_cross_attention=True,
                           is_decoder=True, **_SPECIAL)
    config = T.VisionEncoderDecoderConfig(encoder=encoder.to_dict(), decoder=decoder.to_dict(),
                                          decoder_start_token_id=BOS, **_SPECIAL)
    return _seeded(T.VisionEncoderDecoderModel, config, seed)


def blip(seed: int = 0) -> torch.nn.Module:
    """BLIP captioning: ViT (384 px, 64 px patches) + BERT-style text decoder.

    As in the released checkpoints, ``eos_token_id`` is not [SEP]: BLIP's generate stops at
    ``sep_token_id`` instead.
    """
    text = dict(vocab_size=VOCAB, hidden_size=32, max_position_embeddings=64, pad_token_id=PAD, bos_token_id=DEC,
                eos_token_id=EOS, sep_token_id=SEP, **_LAYERS)
    vision = dict(hidden_size=32, image_size=384, patch_size=64, **_LAYERS)
    config = T.BlipConfig(text_config=text, vision_config=vision)
    return _seeded(T.BlipForConditionalGeneration, config, seed)


def git(seed: int = 0) -> torch.nn.Module:
    """GIT: CLIP-style vision encoder (224 px, 32 px patches) whose tokens prefix a BERT-style decoder."""
    vision = dict(hidden_size=32, image_size=224, patch_size=32, **_LAYERS)
    config = T.GitConfig(vision_config=vision, vocab_size=VOCAB, hidden_size=32, max_position_embeddings=64,
                         pad_token_id=PAD, bos_token_id=CLS, eos_token_id=SEP, **_LAYERS)
    return _seeded(T.GitForCausalLM, config, seed)


def llava(seed: int = 0) -> torch.nn.Module:
    """LLaVA: CLIP vision tower (224 px, 32 px patches: 49 image tokens) + Llama."""
    vision = T.CLIPVisionConfig(hidden_size=32, image_size=224, patch_size=32, projection_dim=32, **_LAYERS)
    text = T.LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, **_SPECIAL)
    config = T.LlavaConfig(vision_config=vision, text_config=text, image_token_id=IMAGE_TOKEN, **_SPECIAL)
    return _seeded(T.LlavaForConditionalGeneration, config, seed)


def llava_image_tokens(model: torch.nn.Module) -> int:
    """Image features per image: patches, without CLIP's class token (the 'default' select strategy)."""
    vision = model.config.vision_config
    return (vision.image_size // vision.patch_size) ** 2


def qwen2_vl(seed: int = 0) -> torch.nn.Module:
    """Qwen2-VL: 14 px patches merged 2x2 into one token; M-RoPE sections (t, h, w) over head_dim 8."""
    text = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=256,
                rope_parameters={"rope_type": "default", "mrope_section": [2, 1, 1], "rope_theta": 10000.0}, **_SPECIAL)
    vision = dict(depth=2, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=14, spatial_merge_size=2,
                  temporal_patch_size=2, in_channels=3)
    config = T.Qwen2VLConfig(text_config=text, vision_config=vision, image_token_id=IMAGE_TOKEN,
                             video_token_id=VIDEO_TOKEN, vision_start_token_id=VISION_START,
                             vision_end_token_id=VISION_END, **_SPECIAL)
    return _seeded(T.Qwen2VLForConditionalGeneration, config, seed)


def left_padded(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) of the rows, left-padded with PAD."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), PAD, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = torch.tensor(row)
        mask[i, width - len(row):] = 1
    return ids, mask


def text_ids(n: int, seed: int) -> list[int]:
    """n random ordinary text ids (not special, not image placeholders)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(6, IMAGE_TOKEN, (n,), generator=g).tolist()
