"""Per-type corrections where generic shrinking is not enough (read with `tiny_configs`).

Each entry is keyed by model type, or by model class where one type has several classes with
different needs. ``values`` are dotted paths set after shrinking (``DELETE`` removes a key so the
config derives it again); ``base`` builds the starting dict for composite configs that have no
usable defaults; ``finish`` edits the built config object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from transformers import CONFIG_MAPPING

DELETE = object()


@dataclasses.dataclass(frozen=True)
class Override:
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    base: Callable[[], dict[str, Any]] | None = None
    finish: Callable[[Any], None] | None = None


def _composite(encoder_type: str, decoder_type: str, **extra: Any) -> Callable[[], dict[str, Any]]:
    """A composite encoder-decoder config's starting dict: both parts' defaults, the decoder cross-attending."""
    def build() -> dict[str, Any]:
        encoder = CONFIG_MAPPING[encoder_type]().to_dict()
        decoder = CONFIG_MAPPING[decoder_type]().to_dict()
        decoder.update(is_decoder=True, add_cross_attention=True)
        return {"encoder": encoder, "decoder": decoder, "model_type": "", **extra}
    return build


def _start_from_pad(config: Any) -> None:
    config.decoder_start_token_id = config.pad_token_id


def _blt_top_level_sizes(config: Any) -> None:
    # One cache serves the local encoder, the global transformer and the local decoder, indexed per part.
    parts = (config.encoder_config, config.global_config, config.decoder_config)
    config.num_hidden_layers = max(part.num_hidden_layers for part in parts)
    config.num_attention_heads = config.decoder_config.num_attention_heads
    config.hidden_size = config.decoder_config.hidden_size


IMAGE_CODES = 32  # VQ codebook entries of the tiny image tokenizers (Chameleon, Emu3)
IMAGE_CODE_IDS = range(100, 100 + IMAGE_CODES)  # the text ids they map to


def _chameleon_vocabulary() -> dict[str, int]:
    """Chameleon's ``vocabulary_map`` (the tokenizer's vocabulary, shipped in checkpoints' configs): image code i
    is the token named "IMGIMG" + i's digits as letters (0 -> A) + one closing character; "<image>" the placeholder."""
    def name(code: int) -> str:
        return "IMGIMG" + "".join(chr(ord("A") + int(d)) for d in str(code)) + "Z"
    return {"<image>": 200, **{name(code): token for code, token in zip(range(IMAGE_CODES), IMAGE_CODE_IDS)}}


def _emu3_vocabulary() -> dict[str, int]:
    """Emu3's: image code i is "<|visual token {i:06d}|>", rows end with "<|extra_200|>"."""
    codes = {f"<|visual token {code:06d}|>": token for code, token in zip(range(IMAGE_CODES), IMAGE_CODE_IDS)}
    return {"<image>": 200, "<|extra_200|>": 201, **codes}


ROPE = {"rope_type": "default", "rope_theta": 10000.0}
# Checkpoints of M-RoPE models set the sections (temporal, height, width) of a head's rotary half
# (8 with 16-wide heads); the configs' defaults leave them out.
M_ROPE = Override({"text_config.rope_parameters": {**ROPE, "mrope_section": [2, 3, 3]}})
M_ROPE_PARTIAL = Override({"text_config.rope_parameters": {**ROPE, "partial_rotary_factor": 0.5,
                                                           "mrope_section": [1, 2, 1]}})  # half the head rotates

OVERRIDES: dict[str, Override] = {
    # Hybrid models: a layer pattern by period and offset, so two layers would hold no attention layer.
    "jamba": Override({"attn_layer_period": 2, "attn_layer_offset": 1, "expert_layer_period": 2,
                       "expert_layer_offset": 1}),
    "bamba": Override({"attn_layer_indices": [1]}),
    "granitemoehybrid": Override({"layer_types": ["mamba", "attention"]}),
    "recurrent_gemma": Override({"num_hidden_layers": 3}),  # block types cycle recurrent, recurrent, attention
    # Two hybrid layers: they share one transformer block, tied across them.
    "zamba": Override({"num_hidden_layers": 5, "attn_layer_period": 2, "attn_layer_offset": 1,
                       "layers_block_type": DELETE, "layer_types": DELETE,
                       "attention_hidden_size": 128}),
    "zamba2": Override({"attention_hidden_size": 128}),  # attention reads [hidden, original embeddings]
    "lfm2_moe": Override({"layer_types": ["conv", "full_attention"], "num_dense_layers": 1}),
    "dory": Override({"num_hidden_layers": 3, "n_input_layers": 1, "n_recurrent_layers": 1, "n_output_layers": 1,
                      "layer_types": ["sliding_attention", "sliding_attention", "full_attention"]}),
    "mamba2": Override({"num_heads": 8}),  # heads x head_dim = expand x hidden
    # The cache sizes its state from qk_dim rounded up to a multiple of 64, the layers from hidden x 0.5 unrounded:
    # they agree only when hidden x qk_dim_factor is a multiple of 64 (transformers' tester: 128).
    "xlstm": Override({"hidden_size": 128, "embedding_dim": 128, "num_blocks": 2}),
    "reformer": Override({"is_decoder": True, "attn_layers": ["local", "lsh"], "axial_pos_embds_dim": [32, 32]}),
    # Configs whose defaults leave a needed part unset.
    "qwen2_vl": M_ROPE, "qwen2_5_vl": M_ROPE, "glm4v": M_ROPE, "glm46v": M_ROPE, "llava_onevision1_5": M_ROPE,
    "glm4v_moe": M_ROPE_PARTIAL, "paddleocr_vl": M_ROPE, "glm_ocr": M_ROPE,
    "mistral4": Override({"head_dim": 32}),
    # The Omni thinkers place M-RoPE positions from a vision start their configs leave out.
    "qwen2_5_omni_thinker": Override({"vision_start_token_id": 203, "vision_end_token_id": 204, **M_ROPE.values}),
    "qwen2_5_omni": Override({"thinker_config.vision_start_token_id": 203, "thinker_config.vision_end_token_id": 204,
                              "thinker_config.text_config.rope_parameters": M_ROPE.values["text_config.rope_parameters"]}),
    "qwen3_omni_moe_thinker": Override({"vision_start_token_id": 203, "vision_end_token_id": 204}),  # latent attention: rotary half of nope + rope (16 + 16)
    # Aria maps the patch count to its query count; its processor cuts 490 px images (35 x 35 patches).
    "aria": Override({"vision_config.image_size": 490, "projector_patch_to_query_dict": {225: 64, 1225: 64, 4900: 64}}),
    "step3p7": Override({"text_config.sliding_window": 64}),
    "moonshine_streaming": Override({"num_key_value_heads": 4, "encoder_config.num_key_value_heads": 4}),
    # The talker reads spatial_merge_size, which its config class does not declare (checkpoints' configs carry it).
    "qwen3_omni_moe": Override({"talker_config.text_config.shared_expert_intermediate_size": 32,
                                "talker_config.spatial_merge_size": 2, "talker_config.speaker_id": {"ethan": 2},
                                "thinker_config.vision_start_token_id": 203, "thinker_config.vision_end_token_id": 204}),
    "fun_asr_nano": Override({"adaptor_config.intermediate_size": 16}),  # text width // 4
    # Gemma 3 pools the 14 x 14 patch grid of a 224 px image to 7 x 7 tokens (the checkpoint: 64 to 16).
    "gemma3": Override({"mm_tokens_per_image": 49}),
    "t5gemma2": Override({"encoder.mm_tokens_per_image": 49}),
    "moonshine": Override({"encoder_num_key_value_heads": 4, "decoder_num_key_value_heads": 4}),
    # Mllama concatenates the last hidden state with intermediate ones: output width = hidden x (1 + layers).
    "mllama": Override({"vision_config.intermediate_layers_indices": [0, 1], "vision_config.vision_output_dim": 192}),
    # Llama 4's pixel shuffle (ratio 0.5) feeds the projector 4 x the vision width.
    "llama4": Override({"vision_config.intermediate_size": 256}),
    # Pixel shuffle halves the patch grid: it must be even (the configs' 384 / 14 and 224 / 32 are not).
    "aya_vision": Override({"vision_config.image_size": 364}),
    "idefics3": Override({"vision_config.image_size": 256}),
    "smolvlm": Override({"vision_config.image_size": 256}),
    "dbrx": Override({"attn_config.rope_theta": 10000.0, "attn_config.clip_qkv": 8.0}),  # clamps with no bound
    "xmod": Override({"default_language": "en_XX"}),
    "cohere_compass_text": Override({"rope_parameters": {"full_attention": ROPE, "sliding_attention": ROPE}}),
    "cohere_compass": Override({"text_config.rope_parameters": {"full_attention": ROPE, "sliding_attention": ROPE}}),
    "qwen4_exp_text": Override({"indexer_n_heads": 2, "indexer_kv_heads": 1, "indexer_head_dim": 16,
                                "indexer_budget": 8, "indexer_compress_ratio": 4}),
    "qwen4_exp": Override({"text_config.indexer_n_heads": 2, "text_config.indexer_kv_heads": 1,
                           "text_config.indexer_head_dim": 16, "text_config.indexer_budget": 8,
                           "text_config.indexer_compress_ratio": 4}),
    # Validators that tie two sizes together.
    "kolibri1_1": Override({"index_num_heads": 2}),  # at most the query heads of one key head
    "glm5_next": Override({"text_config.num_key_value_heads": 4}),
    # The assistant (a draft model) shares its cache across all layers and has no per-layer inputs.
    "gemma4_assistant": Override({"text_config.hidden_size_per_layer_input": 0,
                                  "text_config.vocab_size_per_layer_input": 0}, base=lambda: {
        "model_type": "gemma4_assistant", "text_config": CONFIG_MAPPING["gemma4_text"]().to_dict()}),
    "falcon_h1": Override({"mamba_d_head": 16}),  # heads x head = expand x hidden
    "dots3_note_text": Override({"head_dim": 32}),  # sliding-window heads are nope + rope wide
    "dots3_note": Override({"text_config.head_dim": 32}),
    "gemma3n_text": Override({"num_kv_shared_layers": 0}),
    # Towers whose width the config does not set: timm's MobileNetV5 (2048 channels) and FastViT-MCi3 (3072),
    # whatever the config says; the models reshape or project their output by the config's width.
    "gemma3n": Override({"text_config.num_kv_shared_layers": 0, "vision_config.hidden_size": 2048}),
    "fast_vlm": Override({"vision_config.hidden_size": 3072}),
    # PerceptionLM's tower is timm's Perception Encoder; its projector reads the width from the tower's model_args.
    "perception_lm": Override({"vision_config.architecture": "vit_pe_core_large_patch14_336",
                               "vision_config.model_args": {"embed_dim": 64, "depth": 2, "num_heads": 4,
                                                            "img_size": 224}}),
    # Widths the configs repeat from the vision tower: Muse's projector takes 2 x 2 merged patches (4 x 64),
    # Kimi K2.5's normalizes the tower's width before merging, Unlimited OCR's CLIP-like encoder takes the
    # SAM neck's last map as its patch embeddings.
    "muse_spark": Override({"out_hidden_size": 256}),
    "muse_glimmer": Override({"out_hidden_size": 256}),
    "kimi_k25": Override({"projection_hidden_size": 64}),
    "unlimited_ocr": Override({"vision_config.sam_config.downsample_channels": [32, 64]}),
    # MusicGen's decoders alone: the checkpoints' generation config starts from the pad id; without a start id
    # transformers' generate cannot build the delay pattern.
    "MusicgenForCausalLM": Override(finish=lambda c: _start_from_pad(c.decoder)),
    "MusicgenMelodyForCausalLM": Override(finish=lambda c: _start_from_pad(c.decoder)),

    # BLT's generate sizes its cache from the top config, which names no layer count (transformers' tester sets
    # num_hidden_layers, num_attention_heads and hidden_size there by hand, as here). Its six byte-group hash
    # embeddings have 500,002 rows each by default: the check grew by 3.1 GB, with 1,024 rows by 0.1 GB.
    "blt": Override(values={"encoder_hash_byte_group_vocab": 1024}, finish=_blt_top_level_sizes),

    # HRM runs its stack of layers H x (L + 1) times; num_hidden_layers counts the cache slots (layers x 2 x 4).
    "hrm_text": Override({"num_layers_per_stack": 1, "num_hidden_layers": 8}),

    # Image tokenizers (VQ codes as text ids): the code-to-token map checkpoints ship, over a small codebook.
    "chameleon": Override({"vocabulary_map": _chameleon_vocabulary(), "vq_config.num_embeddings": IMAGE_CODES}),
    "emu3": Override({"vocabulary_map": _emu3_vocabulary(), "vq_config.codebook_size": IMAGE_CODES,
                      # a narrow VQ-VAE (the default is 240M parameters), still 8x downsampling (4 levels); its attention
                      # width (hidden_size, 64) is the last level's channels
                      "vq_config.base_channels": 64, "vq_config.channel_multiplier": [1, 1, 1, 1],
                      "vq_config.num_res_blocks": 1}),

    # VibeVoice's speech tokenizers double their channels at each of 7 stages (32 filters -> 2048, 690M
    # parameters at the defaults): 4 filters and one block a stage keep every stage and the 3200x hop.
    "vibevoice_asr": Override({f"{part}.{key}": value for part in ("acoustic_tokenizer_encoder_config",
                                                                    "semantic_tokenizer_encoder_config")
                               for key, value in (("num_filters", 4), ("depths", [1] * 7))}),
    "vibevoice": Override({f"{part}.{key}": value for part in ("audio_config", "semantic_model_config")
                           for key, value in (("num_filters", 4), ("depths", [1] * 7))}),

    # Composite encoder-decoders: pick small, common parts.
    "encoder-decoder": Override(base=_composite("bert", "bert", decoder_start_token_id=1, pad_token_id=0)),
    "vision-encoder-decoder": Override(base=_composite("vit", "gpt2", decoder_start_token_id=1, pad_token_id=0)),
    "speech-encoder-decoder": Override(base=_composite("wav2vec2", "bert", decoder_start_token_id=1,
                                                       pad_token_id=0)),
}


def override_for(model_type: str, class_name: str | None = None) -> Override:
    return OVERRIDES.get(class_name or "", OVERRIDES.get(model_type, Override()))
