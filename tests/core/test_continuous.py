"""Continuous batching (`mmgen.generate_many`): each input gets the tokens it gets alone.

Parity: on tiny seeded random-weight models, a stream of inputs with prompts of different
lengths and different ``max_new_tokens`` (so rows finish at different steps and newcomers join a
running batch mid-run) goes through a batch of 3; every input's tokens, finish reason and length
equal ``mmgen.generate`` on that input alone and ``model.generate`` (greedy). Tokens, not logits,
are compared: a row decodes among other rows (left padding in a rectangular batch, one long
sequence in a packed one), which changes float32 rounding (other matmul shapes, other reduction
orders), so log-probs agree to ~1e-6 but not bit for bit; an argmax could only flip on a tie that
close, which these seeded models and prompts do not have (both references would catch it).

Also: seeded sampling draws each row's tokens by (seed, its own step), so sampled rows equal their
sampling alone; per-input processors and stopping see each row's own tokens; results come as rows
finish and the input stream is read lazily; what continuous batching refuses names the option;
the row mechanics (cache columns, masks, positions) on hand-made caches.
"""

from __future__ import annotations

import random

import pytest
import torch
from tiny_models import DECODER_ONLY, EOS, VOCAB, tiny_model
from transformers.cache_utils import DynamicLayer

import mmgen
import mmgen.families.continuous as continuous_family
from mmgen.core import running_batch
from mmgen.core.cache_rows import SelfAttentionRows
from mmgen.core.continuous import swap_removed
from mmgen.core.group_prefill import prefill_group
from mmgen.core.packed_batch import PackedBatch, supports_packing
from mmgen.core.selectors import uniform_noise
from mmgen.demo import demo_path

# Tiny random models seldom say EOS, and BART's config forces it at once: rows end by their own
# max_new_tokens here (EOS ends rows in the demo model tests below).
NO_EOS = {"eos_token_id": None, "forced_eos_token_id": None}


def stream(n: int = 9, seed: int = 3) -> list[dict]:
    """Inputs (a batch of one each) of 2-12 prompt tokens, 1-18 new tokens each."""
    g, rng = torch.Generator().manual_seed(seed), random.Random(seed)
    items = []
    for _ in range(n):
        ids = torch.randint(3, VOCAB, (1, rng.randint(2, 12)), generator=g)
        items.append({"input_ids": ids, "attention_mask": torch.ones_like(ids), "max_new_tokens": rng.randint(1, 18)})
    return items


def run_stream(model, items, batch_size=3, **options) -> dict[int, mmgen.Generation]:
    results = dict(mmgen.generate_many(model, items, batch_size=batch_size, **options))
    assert sorted(results) == list(range(len(items)))
    return results


def assert_alone(model, items, results, reference=True, **options):
    """Each result is what mmgen.generate gives its input alone (and model.generate, greedy)."""
    for index, item in enumerate(items):
        alone = mmgen.generate(model, **item, **options)
        got = results[index]
        assert torch.equal(got.sequences, alone.sequences), f"input {index}"
        assert got.finish_reasons == alone.finish_reasons and torch.equal(got.lengths, alone.lengths)
        torch.testing.assert_close(got.logprobs, alone.logprobs, atol=1e-5, rtol=1e-4)
        assert 0 < got.timings.time_to_first_token <= got.timings.total
        if reference:
            assert torch.equal(got.sequences, model.generate(**item, **options, do_sample=False)), f"input {index}"


@pytest.mark.parametrize("name", DECODER_ONLY)
def test_causal_lm_rows_decode_packed_as_alone(name):
    model = tiny_model(name)
    assert supports_packing(model)
    items = stream()
    assert_alone(model, items, run_stream(model, items, **NO_EOS), **NO_EOS)


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_the_rectangular_batch_decodes_as_alone(name, monkeypatch):
    """Models that cannot be packed: newcomers prefilled alone, their cache rows left-padded into the batch."""
    monkeypatch.setattr(continuous_family, "supports_packing", lambda model: False)
    model = tiny_model(name)
    items = stream(seed=4)
    assert_alone(model, items, run_stream(model, items, **NO_EOS), **NO_EOS)


@pytest.mark.parametrize("name", ["t5", "bart", "marian", "mbart"])
def test_encoder_decoder_rows_decode_as_alone(name):
    """Sources of different lengths (the encoder side padded on the right); BART, mBART and Marian
    count positions from the cache length and get each row's own through shifted embeddings."""
    model = tiny_model(name)
    items = stream(seed=5)
    assert_alone(model, items, run_stream(model, items, **NO_EOS), **NO_EOS)


@pytest.mark.parametrize("name", ["t5", "marian"])
def test_encoder_decoder_newcomers_are_prefilled_in_groups_ahead_of_their_slots(name):
    """Nine inputs through a batch of 3: three groups of three sources (2 to 12 tokens, padded on the right)
    each run one encoder forward and one decoder forward; their rows take slots as rows finish, one or
    two at a time, without a forward of their own. Each row still decodes as alone."""
    model = tiny_model(name)
    encoded, prefilled = [], []
    model.get_encoder().register_forward_hook(lambda module, args, output: encoded.append(output[0].shape[0]))

    def on_forward(module, args, kwargs):
        if kwargs["cache"].get_seq_length() == 0:  # a prefill: its cache starts empty
            prefilled.append(kwargs["decoder_input_ids"].shape[0])

    model.register_forward_pre_hook(on_forward, with_kwargs=True)
    items = stream(seed=5)
    results = run_stream(model, items, **NO_EOS)
    assert encoded == [3, 3, 3] and prefilled == [3, 3, 3]
    assert_alone(model, items, results, **NO_EOS)


def test_finished_rows_places_are_taken_by_the_last_rows():
    assert swap_removed(8, [2]) == [0, 1, 7, 3, 4, 5, 6]
    assert swap_removed(8, [2, 7]) == [0, 1, 6, 3, 4, 5]
    assert swap_removed(8, [6, 7]) == [0, 1, 2, 3, 4, 5]
    assert swap_removed(5, [0, 1, 3]) == [2, 4]
    assert swap_removed(3, [0, 1, 2]) == []


def test_the_callers_tensors_are_left_as_they_were():
    """The encoder-decoder batch moves rows in place; what it moves is its own, never an input's tensors."""
    model = tiny_model("marian")
    items = stream(seed=5)
    before = [{k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in item.items()} for item in items]
    run_stream(model, items, batch_size=1, **NO_EOS)
    run_stream(model, items, **NO_EOS)
    for item, kept in zip(items, before):
        assert all(torch.equal(item[k], kept[k]) for k in ("input_ids", "attention_mask"))


def test_group_prefill_gives_each_step_its_first_logits_alone():
    """`prefill_group`: sources of different lengths stacked (padded on the right) give each input the first
    logits of its own prefill; a step that cannot stack (two rows) is prefilled alone."""
    model = tiny_model("marian")
    g = torch.Generator().manual_seed(2)
    sources = [torch.randint(3, VOCAB, (1, n), generator=g) for n in (4, 9, 6)]

    def step(ids):
        return mmgen.api.plan(model, input_ids=ids, attention_mask=torch.ones_like(ids), **NO_EOS).step

    two_rows = torch.cat([sources[0], sources[0]])
    with torch.inference_mode():
        rows = prefill_group([step(ids) for ids in sources] + [step(two_rows)])
        alone = [step(ids).prefill() for ids in sources] + [step(two_rows).prefill()]
    assert [row.group.rows for row in rows] == [3, 3, 3, 2] and [row.row for row in rows] == [0, 1, 2, 0]
    for row, logits in zip(rows[:3], alone):
        torch.testing.assert_close(row.logits, logits, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(rows[3].logits, alone[3][:1])


@pytest.mark.parametrize("attention", ["eager", "sdpa", "2D masks"])
def test_prepared_masks_decode_as_alone(attention, monkeypatch):
    """The encoder-decoder batch hands eager and SDPA attention prepared 4D masks (its rows' padding on
    both sides), other attention its 2D masks; each decodes every row as alone."""
    model = tiny_model("bart")
    if attention == "2D masks":
        monkeypatch.setattr(running_batch, "PACKED_ATTENTION", frozenset())
    else:
        model.set_attn_implementation(attention)
    items = stream(seed=9)
    assert_alone(model, items, run_stream(model, items, **NO_EOS), **NO_EOS)


@pytest.mark.parametrize("name", ["pegasus", "blenderbot", "plbart"])
def test_more_bart_like_decoders_decode_as_alone(name):
    """Sinusoidal positions and embeddings scaled in the decoder (Pegasus), learned positions and
    embeddings scaled in their module (Blenderbot; PLBart, with BART's offset)."""
    import transformers as T

    sizes = {"vocab_size": VOCAB, "d_model": 32, "encoder_layers": 2, "decoder_layers": 2,
             "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 64, "decoder_ffn_dim": 64,
             "max_position_embeddings": 128, "pad_token_id": 0, "eos_token_id": EOS, "decoder_start_token_id": 0,
             "scale_embedding": True}
    model_class, config = {"pegasus": (T.PegasusForConditionalGeneration, T.PegasusConfig),
                           "blenderbot": (T.BlenderbotForConditionalGeneration, T.BlenderbotConfig),
                           "plbart": (T.PLBartForConditionalGeneration, T.PLBartConfig)}[name]
    torch.manual_seed(0)
    model = model_class(config(**sizes)).eval()
    items = stream(7, seed=8)
    assert_alone(model, items, run_stream(model, items, **NO_EOS), **NO_EOS)


def test_a_prompt_with_padding_decodes_as_alone():
    model = tiny_model("llama")
    items = stream(4)
    items[1]["attention_mask"] = items[1]["attention_mask"].clone()
    items[1]["attention_mask"][0, :1] = 0  # the user's own padding, dropped as the plain path does
    assert_alone(model, items, run_stream(model, items, batch_size=2, **NO_EOS), **NO_EOS)


@pytest.mark.parametrize("name", ["gpt2", "t5"])
def test_sampled_rows_draw_what_they_draw_alone(name):
    """The counter-based sampler keys a row's noise by (seed, its own step), whatever its batch."""
    model = tiny_model(name)
    items = stream(seed=6)
    for index, item in enumerate(items):
        item["seed"] = 100 + index
    options = dict(do_sample=True, temperature=0.8, top_k=20, **NO_EOS)
    results = run_stream(model, items, **options)
    assert_alone(model, items, results, reference=False, **options)
    assert len({tuple(r.new_tokens[0, :3].tolist()) for r in results.values() if r.lengths[0] >= 3}) > 2


def test_per_input_processors_see_their_own_rows():
    """Each row runs its own processors on its own tokens: penalties and lengths set per input."""
    model = tiny_model("llama")
    items = stream(seed=7)
    for index, item in enumerate(items):
        item.update([{"repetition_penalty": 1.5}, {"no_repeat_ngram_size": 2}, {"min_new_tokens": 3},
                     {}][index % 4])
    options = {"eos_token_id": EOS}
    assert_alone(model, items, run_stream(model, items, **options), **options)


@pytest.fixture(scope="module")
def counting():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = demo_path("demo/lm")
    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def test_eos_and_stop_strings_end_rows_as_alone(counting):
    """The trained demo/lm ends its lines on EOS at lengths set by the words; one input stops at a string."""
    model, tokenizer = counting
    texts = ["count up : one , two ,", "count by tens : three hundred and ten , three hundred and twenty ,",
             "count down : nine , eight , seven , six ,", "count by twos : forty , forty-two , forty-four ,"]
    items = [{"text": t} for t in texts] + [{"text": texts[0], "stop_strings": ["four"]}]
    results = run_stream(model, items, batch_size=2, tokenizer=tokenizer)
    reasons = set()
    for index, item in enumerate(items):
        alone = mmgen.generate(model, tokenizer=tokenizer, **item)
        assert torch.equal(results[index].sequences, alone.sequences)
        assert results[index].texts == alone.texts and results[index].finish_reasons == alone.finish_reasons
        reasons |= set(alone.finish_reasons)
    assert reasons == {mmgen.FinishReason.EOS, mmgen.FinishReason.STOP_STRING}
    assert results[1].texts[0].startswith("three hundred and thirty")


def test_results_come_as_rows_finish_and_inputs_are_read_lazily():
    model = tiny_model("gpt2")
    limits = [30, 2, 3, 2, 4, 2, 3]
    pulled = []

    def inputs():
        for index, limit in enumerate(limits):
            pulled.append(index)
            yield {"input_ids": torch.tensor([[5 + index, 7, 9]]), "max_new_tokens": limit}

    order = []
    for index, result in mmgen.generate_many(model, inputs(), batch_size=2, **NO_EOS):
        order.append(index)
        assert len(pulled) <= len(order) + 2  # a slot's worth ahead, never the whole stream
        assert result.lengths.tolist() == [limits[index]]
    assert order[-1] == 0 and sorted(order) == list(range(len(limits)))


@pytest.mark.parametrize(("options", "named"), [
    ({"num_beams": 2}, "num_beams"),
    ({"num_return_sequences": 2, "do_sample": True}, "num_return_sequences"),
    ({"cache": "static"}, "cache='dynamic'"),
    ({"compile": True}, "compile=False"),
    ({"prompt_lookup_num_tokens": 3}, "prompt_lookup_num_tokens"),
])
def test_what_continuous_batching_refuses_is_named(options, named):
    with pytest.raises(mmgen.OptionError, match=named):
        list(mmgen.generate_many(tiny_model("gpt2"), stream(2), **options))


def test_bad_arguments_are_refused_before_any_compute():
    model = tiny_model("gpt2")
    with pytest.raises(mmgen.OptionError, match="batch_size=0"):
        mmgen.generate_many(model, stream(2), batch_size=0)
    with pytest.raises(mmgen.OptionError, match="iterable of inputs"):
        mmgen.generate_many(model, {"input_ids": torch.tensor([[4, 5]])})
    with pytest.raises(mmgen.OptionError, match="one input per item"):
        list(mmgen.generate_many(model, [{"input_ids": torch.tensor([[4, 5], [6, 7]])}]))
    with pytest.raises(mmgen.OptionError, match="texts or dicts"):
        list(mmgen.generate_many(model, [torch.tensor([[4, 5]])]))


# -- the row mechanics on hand-made caches -----------------------------------------------------------


def layers_of(rows: int, columns: int, fill: float) -> list[DynamicLayer]:
    layer = DynamicLayer()
    layer.lazy_initialization(torch.zeros(1), torch.zeros(1))
    layer.keys = torch.full((rows, 1, columns, 2), fill)
    layer.values = torch.full((rows, 1, columns, 2), -fill)
    return [layer]


def test_rows_are_right_aligned_and_unused_columns_dropped():
    rows = SelfAttentionRows()
    rows.join(layers_of(1, 3, 1.0), torch.ones(1, 3, dtype=torch.long), torch.tensor([[3]]))
    rows.join(layers_of(1, 5, 2.0), torch.tensor([[0, 1, 1, 1, 1]]), torch.tensor([[4]]))  # its own padding
    rows.join(layers_of(1, 2, 3.0), torch.ones(1, 2, dtype=torch.long), torch.tensor([[2]]))
    assert rows.length == 5 and rows.starts == [2, 1, 3] and rows.padded
    assert rows.next_mask().tolist() == [[0, 0, 1, 1, 1, 1], [0, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1]]
    keys = rows.layers[0].keys[:, 0, :, 0]
    assert keys.tolist() == [[0, 0, 1, 1, 1], [2, 2, 2, 2, 2], [0, 0, 0, 3, 3]]
    assert rows.positions.tolist() == [[3], [4], [2]]
    rows.keep([0, 2], torch.tensor([0, 2]))  # the row using column 1 left: columns 0-1 are no one's
    assert rows.length == 3 and rows.starts == [0, 1]
    assert rows.layers[0].keys[:, 0, :, 0].tolist() == [[1, 1, 1], [0, 3, 3]]


def test_a_packed_batch_drops_finished_rows_columns_as_they_leave():
    model = tiny_model("llama")
    batch = PackedBatch(model)
    steps = [mmgen.api.plan(model, input_ids=ids["input_ids"], **NO_EOS).step for ids in stream(4)]
    with torch.inference_mode():
        batch.step(torch.zeros(0, dtype=torch.long), steps)
        columns = batch.owner.numel()
        batch.keep([0, 1, 2])
        assert batch.owner.numel() == columns - len(steps[3].input_ids[0])
        assert batch.cache.layers[0].keys.shape[2] == batch.owner.numel()
        batch.keep([2])
        assert batch.owner.numel() == len(steps[2].input_ids[0]) and bool((batch.owner == batch.ids[0]).all())
        assert batch.step(torch.tensor([7])).shape == (1, VOCAB)


def test_noise_of_rows_at_their_own_steps():
    seeds = torch.tensor([3, 4, 5])
    together = uniform_noise(seeds, torch.tensor([0, 7, 2]), 50)
    for row, step in enumerate((0, 7, 2)):
        assert torch.equal(together[row], uniform_noise(seeds[row: row + 1], step, 50)[0])


@pytest.mark.parametrize("sampled", [False, True])
def test_rows_finishing_together_are_refilled_by_one_forward(sampled):
    """Three rows end at the same step (two by length, one on its own EOS ids, a list of two); the three
    newcomers, prompts of 3, 9 and 5 tokens, join the packed batch in one forward. Every input still
    decodes as alone, greedy or sampling with its seed."""
    model = tiny_model("llama")
    g = torch.Generator().manual_seed(11)
    prompts = [torch.randint(3, VOCAB, (1, n), generator=g) for n in (2, 7, 12, 3, 9, 5)]
    items = [{"input_ids": ids, "max_new_tokens": 4 if index < 3 else 5} for index, ids in enumerate(prompts)]
    options = dict(do_sample=True, seed=5, **NO_EOS) if sampled else dict(NO_EOS)
    fourth = mmgen.generate(model, **items[1], **options).new_tokens[0, 3].item()
    items[1].update(max_new_tokens=8, eos_token_id=[1, fourth])  # ends on its 4th token, by EOS
    assert supports_packing(model)  # probed once, before the forwards counted here
    forwards = []
    model.register_forward_hook(lambda module, args, kwargs, output: forwards.append(kwargs["input_ids"].shape[1]),
                                with_kwargs=True)
    results = run_stream(model, items, **options)
    assert forwards == [2 + 7 + 12] + [3] * 3 + [3 + 9 + 5] + [3] * 4  # 9 forwards for 6 inputs
    assert results[1].finish_reasons == (mmgen.FinishReason.EOS,) and results[1].lengths.tolist() == [4]
    for index, item in enumerate(items):
        alone = mmgen.generate(model, **{**options, **item})  # an input's own options win, as in generate_many
        assert torch.equal(results[index].sequences, alone.sequences), f"input {index}"
        assert results[index].finish_reasons == alone.finish_reasons
        torch.testing.assert_close(results[index].logprobs, alone.logprobs, atol=1e-5, rtol=1e-4)
