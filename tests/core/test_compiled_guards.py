"""The compiled step skips torch's guard evaluation only for inputs and a model it has already run compiled
(`mmgen.core.compiled`): what makes two calls differ must change the input state or the model state."""

from __future__ import annotations

import torch
import transformers
from tiny_models import DECODER_ONLY, prompts, tiny_model
from transformers import EncoderDecoderCache, StaticCache
from transformers.modeling_outputs import BaseModelOutput

import mmgen
from mmgen.core.compiled import compiled_forward, input_state, model_state

FREE = dict(max_new_tokens=10, eos_token_id=None, forced_eos_token_id=None)


def encoder_inputs(length: int, same_storage: bool = False) -> dict:
    """Decoder ids and encoder mask as views of one (2, 1 + length) tensor, or of two such tensors."""
    first, second = torch.ones(2, 1 + length, dtype=torch.long), torch.ones(2, 1 + length, dtype=torch.long)
    return {"decoder_input_ids": first[:, :1], "attention_mask": (first if same_storage else second)[:, 1:],
            "encoder_outputs": BaseModelOutput(last_hidden_state=torch.zeros(2, length, 8)), "use_cache": True}


def test_the_input_state_sees_nested_shapes_aliasing_and_modes():
    assert input_state(encoder_inputs(5)) == input_state(encoder_inputs(5))
    assert input_state(encoder_inputs(5)) != input_state(encoder_inputs(6))  # the encoder's length, nested
    assert input_state(encoder_inputs(5)) != input_state(encoder_inputs(5, same_storage=True))
    outside = input_state(encoder_inputs(5))
    with torch.inference_mode():
        assert input_state(encoder_inputs(5)) != outside
    assert input_state({"input_ids": torch.zeros(1, 1), "other": object()}) is None  # unknown: guards kept


def test_the_input_state_reads_caches_flags_and_shapes():
    config = tiny_model("gpt2").config
    states = [input_state({"cache": EncoderDecoderCache(StaticCache(config=config, max_cache_len=length),
                                                         StaticCache(config=config, max_cache_len=4))})
              for length in (32, 32, 64)]
    assert states[0] == states[1] != states[2]
    cache = EncoderDecoderCache(StaticCache(config=config, max_cache_len=32), StaticCache(config=config, max_cache_len=4))
    cache.is_updated[0] = True
    assert input_state({"cache": cache}) != states[0]


def test_the_model_state_changes_with_mode_weights_and_config():
    model = tiny_model("gpt2")
    before = model_state(model)
    assert model_state(model) == before
    model.train()
    assert model_state(model) != before
    model.eval()
    assert model_state(model) == before
    model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())
    assert model_state(model) != before
    changed = model_state(model)
    model.config.use_cache = False
    assert model_state(model) != changed
    replaced = model_state(model)
    model.transformer.h[0].mlp.act = type(model.transformer.h[0].mlp.act)()  # a new module, no weights
    assert model_state(model) != replaced


def test_a_compiled_step_skips_guards_after_its_first_run_and_keeps_the_tokens():
    model = tiny_model("gpt2", seed=3)
    ids, mask = prompts(batch=2, left="gpt2" in DECODER_ONLY)
    plain = mmgen.generate(model, input_ids=ids, attention_mask=mask, **FREE)
    first = mmgen.generate(model, input_ids=ids, attention_mask=mask, compile=True, **FREE)
    forward = compiled_forward(model)
    assert forward.trusted and forward.skip_guards  # the steps after the first ran without guards
    again = mmgen.generate(model, input_ids=ids, attention_mask=mask, compile=True, **FREE)
    assert torch.equal(plain.sequences, first.sequences) and torch.equal(plain.sequences, again.sequences)
    model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.lm_head.weight))  # another model now
    changed_plain = mmgen.generate(model, input_ids=ids, attention_mask=mask, **FREE)
    changed = mmgen.generate(model, input_ids=ids, attention_mask=mask, compile=True, **FREE)
    assert torch.equal(changed_plain.sequences, changed.sequences)


class DataShaped(transformers.GPT2LMHeadModel):
    """Forces token p at position p, through a tensor as long as the position (``nonzero``: its shape is the
    data's), so torch breaks the graph there and specialises the code after the break on that shape."""

    def forward(self, input_ids=None, position_ids=None, **kwargs):
        outputs = super().forward(input_ids=input_ids, position_ids=position_ids, **kwargs)
        earlier = (torch.arange(self.config.vocab_size) < position_ids.max()).nonzero()  # (position, 1)
        bump = torch.zeros_like(outputs.logits)
        bump[..., earlier.shape[0]] = 1e4
        outputs.logits = outputs.logits + bump
        return outputs


def test_a_forward_that_breaks_into_several_graphs_keeps_its_guards():
    """From its first compilation on (the graphs after a break are specialised on values computed from the data:
    with their guards skipped, Glm5Next gave other tokens from its fifth step on in the architecture sweep)."""
    model = DataShaped(tiny_model("gpt2").config).eval()
    ids, mask = prompts(batch=2)
    plain = mmgen.generate(model, input_ids=ids, attention_mask=mask, **FREE)
    first = int(plain.new_tokens[0, 0])
    assert plain.new_tokens[0].tolist() == list(range(first, first + FREE["max_new_tokens"]))
    compiled = mmgen.generate(model, input_ids=ids, attention_mask=mask, compile=True, **FREE)
    assert not compiled_forward(model).skip_guards
    assert torch.equal(compiled.sequences, plain.sequences)
