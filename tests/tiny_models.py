"""Tiny seeded random-weight transformers models, one per architecture mmgen supports.

Built from configs (no hub). Special ids: pad 0, bos 1, eos 2; vocab 96.
"""

from __future__ import annotations

import torch
import transformers as T

VOCAB = 96
PAD, BOS, EOS = 0, 1, 2
_SPECIAL = dict(pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS)
_SMALL_ENC_DEC = dict(d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
                      decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128)

CONFIGS = {
    "gpt2": lambda: (T.GPT2LMHeadModel, T.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=2, n_positions=128, **_SPECIAL)),
    "llama": lambda: (T.LlamaForCausalLM, T.LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64,
                                                          num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                                          max_position_embeddings=128, **_SPECIAL)),
    "qwen2": lambda: (T.Qwen2ForCausalLM, T.Qwen2Config(vocab_size=VOCAB, hidden_size=32, intermediate_size=64,
                                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                                         max_position_embeddings=128, **_SPECIAL)),
    "t5": lambda: (T.T5ForConditionalGeneration, T.T5Config(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=2,
                                                            num_heads=4, decoder_start_token_id=PAD, pad_token_id=PAD,
                                                            eos_token_id=EOS)),
    "bart": lambda: (T.BartForConditionalGeneration, T.BartConfig(vocab_size=VOCAB, decoder_start_token_id=EOS,
                                                                  forced_eos_token_id=EOS, **_SMALL_ENC_DEC, **_SPECIAL)),
    "marian": lambda: (T.MarianMTModel, T.MarianConfig(vocab_size=VOCAB, decoder_start_token_id=PAD, **_SMALL_ENC_DEC,
                                                        pad_token_id=PAD, eos_token_id=EOS)),
    "mbart": lambda: (T.MBartForConditionalGeneration, T.MBartConfig(vocab_size=VOCAB, decoder_start_token_id=EOS,
                                                                     **_SMALL_ENC_DEC, **_SPECIAL)),
}

DECODER_ONLY = ("gpt2", "llama", "qwen2")

# Decoder-only models whose masks a static cache's forward must be given as transformers makes them: ALiBi built
# from the 2D mask (BLOOM), linear-attention layers beside attention ones (Qwen 3.5 MoE). Apart from CONFIGS, which
# the parity tests sweep: the fast-path tests take them by name.
MASKED_CONFIGS = {
    "bloom": lambda: (T.BloomForCausalLM, T.BloomConfig(vocab_size=VOCAB, hidden_size=32, n_layer=2, n_head=4,
                                                         **_SPECIAL)),
    "qwen3_5": lambda: (T.Qwen3_5MoeForCausalLM, T.Qwen3_5MoeTextConfig(
        vocab_size=VOCAB, hidden_size=32, moe_intermediate_size=32, shared_expert_intermediate_size=32,
        num_experts=4, num_experts_per_tok=2, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, linear_key_head_dim=8, linear_value_head_dim=8, linear_num_key_heads=2,
        linear_num_value_heads=4, layer_types=["linear_attention", "full_attention"], max_position_embeddings=128,
        **_SPECIAL)),
}
DECODER_ONLY_MASKED = tuple(MASKED_CONFIGS)
ENCODER_DECODER = ("t5", "bart", "marian", "mbart")


def tiny_model(name: str, seed: int = 0) -> torch.nn.Module:
    """A seeded random-weight model of architecture ``name`` in eval mode."""
    model_class, config = {**CONFIGS, **MASKED_CONFIGS}[name]()
    torch.manual_seed(seed)
    model = model_class(config).eval()
    return model


def prompts(batch: int = 3, seed: int = 1, lengths: tuple[int, ...] = (7, 4, 6), left: bool = True):
    """(input_ids, attention_mask) of unequal lengths, padded left (decoder-only) or right."""
    g = torch.Generator().manual_seed(seed)
    width = max(lengths[:batch])
    ids = torch.full((batch, width), PAD, dtype=torch.long)
    mask = torch.zeros((batch, width), dtype=torch.long)
    for row, n in enumerate(lengths[:batch]):
        tokens = torch.randint(3, VOCAB, (n,), generator=g)
        span = slice(width - n, width) if left else slice(0, n)
        ids[row, span] = tokens
        mask[row, span] = 1
    return ids, mask


def sized_gpt2(vocab: int = VOCAB, width: int = 32, seed: int = 0) -> T.GPT2LMHeadModel:
    """A seeded two-layer GPT-2 (its projections are ``Conv1D``s, its output layer tied to the embeddings) of
    ``vocab`` tokens and ``width``, for the layer transforms' size rules (`mmgen.quantize`, `mmgen.prepack`)."""
    torch.manual_seed(seed)
    config = T.GPT2Config(vocab_size=vocab, n_embd=width, n_layer=2, n_head=2, n_positions=64, bos_token_id=BOS,
                          eos_token_id=EOS, pad_token_id=PAD)
    return T.GPT2LMHeadModel(config).eval()


def conv1d_probes(model: torch.nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Each ``Conv1D`` of ``model`` by name -> (a random (3, in) input, the layer's output on it now), to check a
    layer that replaces it. ``Conv1D``'s weight is (in, out): its input width is ``weight.shape[0]``."""
    from transformers.pytorch_utils import Conv1D

    probes = {}
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, Conv1D):
                x = torch.randn(3, module.weight.shape[0])
                probes[name] = (x, module(x))
    return probes
