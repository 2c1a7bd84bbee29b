"""A tiny config for any model type: the default config, shrunk generically, then per-type overrides.

The defaults (``CONFIG_MAPPING[model_type]().to_dict()``) describe a full-size checkpoint; every
width, depth, head count, expert count and vocabulary in it (and in its vision, audio and text
sub-configs) is capped at a small value, consistently, so one width (64) and one head shape
(4 heads of 16, 2 key-value heads) hold across sub-configs and the projectors between them.
What a generic rule cannot know (a layer pattern, a pooling grid, a codebook layout) is in
`config_overrides.OVERRIDES`. Special token ids past the shrunk vocabulary are then moved
into its top (`special_ids.remap_special_ids`). The config is rebuilt from the dict, so its own
``__post_init__`` checks and derives what depends on the sizes.
"""

from __future__ import annotations

import copy
from typing import Any

import config_overrides
import special_ids
from transformers import CONFIG_MAPPING, PreTrainedConfig

WIDTH = 64
HEADS = 4
KV_HEADS = 2
HEAD_DIM = WIDTH // HEADS  # 16: room for partial rotary factors and M-RoPE sections
FFN = 128
EXPERT_FFN = 32
LAYERS = 2
EXPERTS = 4
EXPERTS_PER_TOKEN = 2
VOCAB = 256
STATE = 16  # SSM state sizes, LoRA ranks

# Keys capped at a value, when the default is larger. Widths must all agree: projectors between
# a vision tower and a language model read one sub-config's width from another's key.
CAPS: dict[str, int] = {}
CAPS.update(dict.fromkeys((
    "hidden_size", "d_model", "n_embd", "embed_dim", "dim", "text_hidden_size", "vision_hidden_size",
    "audio_hidden_size", "out_hidden_size", "projector_hidden_size", "mm_hidden_size", "encoder_hidden_size",
    "decoder_hidden_size", "cross_attention_hidden_size", "vision_output_dim", "output_hidden_size",
    "projection_dim", "word_embed_proj_dim", "embedding_size", "hidden_dim", "attention_hidden_size",
    "lru_width", "image_text_hidden_size", "backbone_hidden_size", "d_embed", "hidden_size_global",
    "cross_hidden_size", "adapter_in_dim", "adapter_out_dim", "projector_input_dim", "projector_output_dim",
    "speech_decoder_postnet_units", "unit_embed_dim", "input_embedding_size", "output_embedding_size",
    "t2u_variance_predictor_embed_dim", "vector_quantization_hidden_dimension", "output_dim",
), WIDTH))
CAPS.update(dict.fromkeys((
    "num_attention_heads", "n_head", "num_heads", "n_heads", "encoder_attention_heads", "decoder_attention_heads",
    "attention_heads", "encoder_num_attention_heads", "decoder_num_attention_heads", "num_encoder_attention_heads",
    "num_decoder_attention_heads", "speech_encoder_attention_heads", "t2u_encoder_attention_heads",
    "t2u_decoder_attention_heads", "cross_num_attention_heads", "swa_num_attention_heads", "index_n_heads",
    "index_num_heads", "conf_num_attention_heads", "resampler_n_heads",
), HEADS))
CAPS.update(dict.fromkeys((
    "num_key_value_heads", "encoder_num_key_value_heads", "cross_num_key_value_heads", "swa_num_key_value_heads",
    "num_kv_heads", "num_query_groups", "multi_query_group_num",
), KV_HEADS))
CAPS.update(dict.fromkeys((
    "head_dim", "d_kv", "attention_head_dim", "kv_channels", "dim_head", "d_head", "swa_head_dim", "cross_head_dim",
    "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim", "index_head_dim", "resampler_head_dim",
    "linear_key_head_dim", "linear_value_head_dim", "linear_head_dim", "attention_head_size", "mamba_head_dim",
    "mamba_d_head", "mamba_headdim",
), HEAD_DIM))
CAPS.update(dict.fromkeys((
    "intermediate_size", "ffn_dim", "encoder_ffn_dim", "decoder_ffn_dim", "d_ff", "n_inner", "ffn_hidden_size",
    "mlp_dim", "intermediate_size_mlp", "dense_intermediate_size", "first_dense_intermediate_size",
    "speech_encoder_intermediate_size", "t2u_encoder_ffn_dim", "t2u_decoder_ffn_dim", "encoder_linear_units",
    "decoder_linear_units", "feed_forward_size", "dim_ff", "dff", "d_inner", "mlp_only_intermediate_size",
    "shared_intermediate_size", "expert_ffn_hidden_size", "audio_intermediate_size",
), FFN))
CAPS.update(dict.fromkeys((
    "moe_intermediate_size", "shared_expert_intermediate_size", "moe_shared_expert_intermediate_size",
    "shared_experts_intermediate_size",
), EXPERT_FFN))
CAPS.update(dict.fromkeys((
    "num_hidden_layers", "n_layer", "num_layers", "encoder_layers", "decoder_layers", "num_decoder_layers",
    "num_encoder_layers", "n_layers", "depth", "speech_encoder_layers", "t2u_encoder_layers", "t2u_decoder_layers",
    "max_window_layers", "conf_num_hidden_layers", "num_global_layers", "text_num_hidden_layers",
), LAYERS))
CAPS.update(dict.fromkeys((
    "num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts",
), EXPERTS))
CAPS.update(dict.fromkeys(("num_experts_per_tok", "moe_topk", "num_experts_per_token", "moe_k"), EXPERTS_PER_TOKEN))
CAPS.update(dict.fromkeys((
    "kv_lora_rank", "q_lora_rank", "o_lora_rank", "mamba_d_state", "state_size", "ssm_state_size", "d_state",
    "time_step_rank", "mamba_dt_rank", "laurel_rank", "adapter_rank", "gated_norm_rank", "loop_gate_rank",
    "hc_lowrank",
), STATE))
CAPS.update(dict.fromkeys(("vocab_size", "text_vocab_size", "unpadded_vocab_size"), VOCAB))
CAPS.update({"n_shared_experts": 1, "num_shared_experts": 1, "n_group": 1, "topk_group": 1, "num_expert_group": 1,
             "first_k_dense_replace": 1, "linear_num_key_heads": 2, "linear_num_value_heads": 4,
             "mamba_n_heads": 8, "mamba_num_heads": 8, "n_mamba_heads": 8, "num_key_value_groups": 1,
             "n_groups": 1, "mamba_n_groups": 1})
CAPS.update({"latent_query_num": 64, "upsample_groups": WIDTH, "codebook_dim": WIDTH, "mamba_d_ssm": 2 * WIDTH, "rotary_dim": HEAD_DIM // 2, "condition_dim": WIDTH, "vocab_size_per_layer_input": VOCAB, "hidden_size_per_layer_input": 16})

# Keys some defaults leave None that the model needs set (real checkpoints always set them).
FILL_NONE = {"head_dim": HEAD_DIM, "num_key_value_heads": KV_HEADS, "n_routed_experts": EXPERTS,
             "n_shared_experts": 1, "num_experts_per_tok": EXPERTS_PER_TOKEN}

# Per-layer lists that follow the layer count: a layer pattern is shrunk to one layer of each kind.
LAYER_PATTERN_KEYS = ("layer_types", "layers_block_type", "block_types", "layer_block_types", "attn_types")


def shrink(config: dict[str, Any]) -> dict[str, Any]:
    """A shrunk copy of a config dict; nested sub-config dicts are shrunk too."""
    config = copy.deepcopy(config)
    _shrink_in_place(config)
    return config


def _is_sub_config(value: Any) -> bool:
    return isinstance(value, dict) and "model_type" in value


# Key endings capped like the keys above (decoder_num_key_value_heads, audio_num_hidden_layers, ...).
SUFFIX_CAPS = (("_key_value_heads", KV_HEADS), ("_attention_heads", HEADS), ("_hidden_layers", LAYERS))


def _cap_of(key: str, value: int) -> int:
    """The cap of a size key, or ``value`` itself (no cap) for keys that are not sizes."""
    if key in CAPS:
        return CAPS[key]
    return next((cap for suffix, cap in SUFFIX_CAPS if key.endswith(suffix)), value)


def _capped(values: dict[str, Any]) -> dict[str, Any]:
    """Caps applied to a plain dict of per-layer settings ({"head_dim": 512} -> {"head_dim": 16})."""
    capped = {k: min(v, CAPS[k]) if k in CAPS and isinstance(v, int) and not isinstance(v, bool) else v
              for k, v in values.items()}
    _fit_latent_attention(capped)
    return capped


def _shrink_in_place(config: dict[str, Any]) -> None:
    old_layers = next((config[k] for k in LAYER_COUNT_KEYS if isinstance(config.get(k), int)), None)
    for key, value in list(config.items()):
        if _is_sub_config(value):
            _shrink_in_place(value)
        elif value is None and key in FILL_NONE:
            config[key] = FILL_NONE[key]
        elif isinstance(value, int) and not isinstance(value, bool) and value > _cap_of(key, value):
            config[key] = _cap_of(key, value)
    _shrink_layer_pattern(config, old_layers)
    _fit_rope_sections(config)
    _fit_latent_attention(config)
    if config.get("num_experts_per_tok") and config.get("num_experts"):
        config["num_experts_per_tok"] = min(config["num_experts_per_tok"], config["num_experts"])


LAYER_COUNT_KEYS = ("num_hidden_layers", "num_layers", "n_layer", "n_layers")


def _shrink_layer_pattern(config: dict[str, Any], old_layers: int | None) -> None:
    """Keep one layer of each kind of a per-layer pattern (the first of each), and lists of that length.

    layer_types ["linear", "linear", "linear", "full", ...] (48) -> ["linear", "full"]: 2 layers. Lists
    as long as the old layer count follow (per-layer flags, window sizes); so do pattern strings
    ("M-M*-") and per-layer dicts keyed by layer index.
    """
    count_key = next((k for k in LAYER_COUNT_KEYS if isinstance(config.get(k), int)), None)
    if not old_layers or count_key is None:
        return
    pattern = next((config[k] for k in LAYER_PATTERN_KEYS if isinstance(config.get(k), list)
                    and len(config[k]) == old_layers), None)
    if pattern is not None:
        firsts = sorted({str(kind): i for i, kind in reversed(list(enumerate(pattern)))}.values())
        keep = firsts if len(firsts) >= LAYERS else list(range(min(old_layers, LAYERS)))
    else:
        keep = list(range(min(old_layers, LAYERS)))
    shrinking = old_layers > 1 and len(keep) < old_layers
    for key, value in list(config.items()):
        is_pattern_string = isinstance(value, str) and "pattern" in key
        holds_indices = _is_layer_index_list(key, value, old_layers)
        if shrinking and (isinstance(value, list) or is_pattern_string) and len(value) == old_layers:
            picked = [value[i] for i in keep]
            if holds_indices:  # per-layer source layers (kv sharing): renumber what survives, else self
                picked = [keep.index(v) if v in keep else n for n, v in enumerate(picked)]
            config[key] = "".join(picked) if isinstance(value, str) else picked
        elif shrinking and holds_indices:  # e.g. attention layer indices [3, 7, 11] -> [1]
            config[key] = [keep.index(i) for i in value if i in keep]
        elif isinstance(value, dict) and key.startswith("per_layer") and value:
            config[key] = {_renumber(i, keep): _capped(v) for i, v in value.items() if _kept(i, keep)}
    config[count_key] = len(keep)


def _is_layer_index_list(key: str, value: Any, old_layers: int) -> bool:
    """A list of layer indices: ``*_layers``/``*_indices``/``*_ids`` of ints below the old layer count."""
    return (isinstance(value, list) and bool(value) and "token" not in key
            and key.endswith(("_layers", "_indices", "_ids", "_idxs"))
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < old_layers for v in value))


def _kept(index: Any, keep: list[int]) -> bool:
    """Per-layer dicts are keyed by layer index, or by layer type (kept as is)."""
    return not str(index).isdigit() or int(index) in keep


def _renumber(index: Any, keep: list[int]) -> Any:
    return str(keep.index(int(index))) if str(index).isdigit() else index


PLACEHOLDER_KEYS = ("image_token_id", "image_token_index", "video_token_id", "video_token_index", "audio_token_id",
                    "audio_token_index")
FREE_IDS = range(200, 208)  # below the moved special ids (top 64 of 256), named special so prompts avoid them


def _name_placeholders(config: dict[str, Any]) -> None:
    """A media placeholder the defaults leave None (checkpoints name one) gets a free id."""
    free = (i for i in FREE_IDS)
    for key in PLACEHOLDER_KEYS:
        if key in config and config[key] is None:
            config[key] = next(free)


def _with_vision_tower(model_type: str, config: dict[str, Any]) -> dict[str, Any]:
    """Configs whose default is text-only (Gemma 4: ``vision_config=None``) get their vision tower's defaults."""
    vision_class = getattr(CONFIG_MAPPING[model_type], "sub_configs", {}).get("vision_config")
    if "vision_config" in config and config["vision_config"] is None and vision_class is not None:
        try:
            config["vision_config"] = vision_class().to_dict()
        except Exception:  # an AutoConfig placeholder: no defaults to take
            pass
    return config


def _fit_feature_layers(config: dict[str, Any]) -> None:
    """Vision feature layers (and deepstack taps) index the vision tower's hidden states; keep them inside
    the shrunk tower ([-2, -5, -8, -11, 6] over 2 layers -> [-2, -2, -2, -2, 1])."""
    vision = config.get("vision_config")
    layers = next((vision[k] for k in (*LAYER_COUNT_KEYS, "depth") if isinstance(vision, dict)
                   and isinstance(vision.get(k), int)), None)
    if layers is None:
        return

    def fit(index: int) -> int:
        return min(index, layers - 1) if index >= 0 else max(index, -layers)

    def visit(node: dict[str, Any]) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                visit(value)
            elif key in ("vision_feature_layer", "vision_feature_layers"):
                if isinstance(value, int) and not isinstance(value, bool):
                    node[key] = fit(value)
                elif isinstance(value, list) and all(isinstance(v, int) for v in value):
                    node[key] = [fit(v) for v in value]
            elif key == "deepstack_visual_indexes" and isinstance(value, (list, tuple)):
                # Qwen3-VL's deepstack taps ([8, 16, 24]): a tower too shallow for them makes none, which
                # beam search's expansion of the image features cannot take ([1] over 2 layers).
                node[key] = list(dict.fromkeys(fit(v) for v in value))

    visit(config)


def _fit_latent_attention(config: dict[str, Any]) -> None:
    """Multi-head latent attention (DeepSeek V2/V3): a query head is nope + rope dims, one key-value head per head."""
    if "kv_lora_rank" not in config:
        return
    if isinstance(config.get("qk_nope_head_dim"), int) and isinstance(config.get("qk_rope_head_dim"), int):
        if "qk_head_dim" in config:
            config["qk_head_dim"] = config["qk_nope_head_dim"] + config["qk_rope_head_dim"]
    if isinstance(config.get("num_key_value_heads"), int):
        config["num_key_value_heads"] = config.get("num_attention_heads", HEADS)


def _fit_rope_sections(config: dict[str, Any]) -> None:
    """M-RoPE sections split a head's rotary half; rescale them to the shrunk head (sum = head_dim // 2)."""
    for key in ("rope_parameters", "rope_scaling"):
        rope = config.get(key)
        if not isinstance(rope, dict) or not isinstance(rope.get("mrope_section"), list):
            continue
        sections = rope["mrope_section"]
        factor = rope.get("partial_rotary_factor", config.get("partial_rotary_factor", 1.0)) or 1.0
        half = int((config.get("head_dim") or HEAD_DIM) * factor) // 2
        scaled = [max(1, s * half // sum(sections)) for s in sections]
        scaled[0] += half - sum(scaled)
        rope["mrope_section"] = scaled


def tiny_config(model_type: str, class_name: str | None = None) -> PreTrainedConfig:
    """The tiny config of ``model_type`` (for model class ``class_name``, when it needs its own)."""
    override = config_overrides.override_for(model_type, class_name)
    if override.base is not None:
        base = override.base()
    else:
        base = _with_vision_tower(model_type, CONFIG_MAPPING[model_type]().to_dict())
    shrunk = shrink(base)
    _fit_feature_layers(shrunk)
    _name_placeholders(shrunk)
    for path, value in override.values.items():
        _set_path(shrunk, path, value)
    special_ids.remap_special_ids(shrunk)
    config = CONFIG_MAPPING[model_type].from_dict(shrunk)
    if override.finish is not None:
        override.finish(config)
    return config


def config_for_class(config: PreTrainedConfig, model_class: type) -> PreTrainedConfig:
    """The part of a composite config that ``model_class`` takes: Llama4ForCausalLM is registered
    under "llama4" (a vision-language config) but is built from its text config."""
    wanted = getattr(model_class, "config_class", None)
    if wanted is None or isinstance(config, wanted):
        return config
    for value in vars(config).values():
        if isinstance(value, wanted):
            return value
    return config


def _set_path(config: dict[str, Any], path: str, value: Any) -> None:
    """Set ``"vision_config.image_size"``-style dotted paths; a sub-config dict is created if missing."""
    *parents, leaf = path.split(".")
    for part in parents:
        config = config.setdefault(part, {})
    if value is config_overrides.DELETE:
        config.pop(leaf, None)
    else:
        config[leaf] = value
