"""Vision-language models: mmgen.generate equals model.generate token for token, greedy and beam.

LLaVA (CLIP + Llama) and Qwen2-VL (M-RoPE positions). Each batch holds three different images
and prompts of unequal length with the image placeholders expanded by hand (what the
processors do). No family file: the generic decoder-only family runs them on the step where
the model prepares its own inputs (`PreparedStep`: pixels at the prefill only, M-RoPE
positions placed by the model, each input prefilled once and repeated for its beams).
"""

import pytest
import tiny_vision as tv
import torch
import transformers as T

import mmgen
from mmgen.api import plan
from mmgen.core import beam
from mmgen.core.growing_input import GrowingInput
from mmgen.core.prepared_step import PreparedStep

NEW_TOKENS = 14  # long enough for a row to finish early, so compaction (the default) drops it
STRATEGIES = {"greedy": {}, "beam": {"num_beams": 3}}
BEAM_PENDING = pytest.mark.skipif("TEMPORARY stub" in (beam.__doc__ or ""), reason="beam search is not in yet")
STRATEGY_CASES = ["greedy", pytest.param("beam", marks=BEAM_PENDING)]


def both(model, inputs, reference_inputs=None, **options):
    expected = model.generate(**(reference_inputs or inputs), max_new_tokens=NEW_TOKENS, do_sample=False, **options)
    actual = mmgen.generate(model, **inputs, max_new_tokens=NEW_TOKENS, **options)
    return expected, actual


def assert_parity(expected, actual):
    assert actual.sequences.shape == expected.shape
    assert torch.equal(actual.sequences, expected)
    new = expected[:, actual.prompt_length:]
    assert int((new != tv.PAD).sum(-1).max()) >= 4, "every answer ended at once: pick other seeds"
    assert len({tuple(row) for row in new.tolist()}) >= 2, "the answers ignore the image: pick other seeds"


def llava_inputs(model):
    pixel_values = T.CLIPImageProcessorPil()(images=tv.images(), return_tensors="pt").pixel_values
    placeholders = [tv.IMAGE_TOKEN] * tv.llava_image_tokens(model)
    input_ids, mask = tv.left_padded([[tv.BOS, *placeholders, *tv.text_ids(n, seed=n)] for n in (3, 6, 1)])
    return {"input_ids": input_ids, "attention_mask": mask, "pixel_values": pixel_values}


def qwen2_vl_rows():
    """Token rows "bos text <vision_start> image-pads <vision_end> text" and the image inputs.

    The images' 28 px-multiple sizes give grids (t, h, w) = (1, 4, 4), (1, 4, 8), (1, 6, 4):
    4, 8 and 6 placeholder tokens after the 2x2 merge.
    """
    images = T.Qwen2VLImageProcessorPil()(images=tv.images(((56, 56), (112, 56), (56, 84))), return_tensors="pt")
    merged = (images["image_grid_thw"].prod(-1) // 4).tolist()
    rows = [[tv.BOS, *tv.text_ids(n, seed=n), tv.VISION_START, *[tv.IMAGE_TOKEN] * count, tv.VISION_END,
             *tv.text_ids(n + 1, seed=n + 10)] for n, count in zip((2, 4, 1), merged)]
    return rows, {"pixel_values": images["pixel_values"], "image_grid_thw": images["image_grid_thw"]}


def with_token_types(input_ids, mask, images):
    return {"input_ids": input_ids, "attention_mask": mask, "mm_token_type_ids": (input_ids == tv.IMAGE_TOKEN).int(),
            **images}


@pytest.mark.parametrize("strategy", STRATEGY_CASES)
def test_llava(strategy):
    model = tv.llava()
    assert isinstance(plan(model, **llava_inputs(model), max_new_tokens=2).step, PreparedStep)
    expected, actual = both(model, llava_inputs(model), **STRATEGIES[strategy])
    assert_parity(expected, actual)


def test_llava_rows_finishing_early_stay_in_the_batch():
    """The prepared step keeps every row (a model's own per-input state must stay aligned): with
    compaction asked for or not, the tokens are the same."""
    model = tv.llava()
    inputs = llava_inputs(model)
    compacted = mmgen.generate(model, **inputs, max_new_tokens=NEW_TOKENS)
    assert "eos" in {r.value for r in compacted.finish_reasons}, "no row finished early: pick other seeds"
    full = mmgen.generate(model, **inputs, max_new_tokens=NEW_TOKENS, compact=False)
    assert torch.equal(full.sequences, compacted.sequences)


@pytest.mark.parametrize("strategy", STRATEGY_CASES)
def test_llava_past_the_first_allocation(strategy, monkeypatch):
    """The prepared step allocates its token ids `GrowingInput.ROOM` columns past the prompt and grows
    them when full (a call of 1024 new tokens once wrote past 256)."""
    monkeypatch.setattr(GrowingInput, "ROOM", 3)
    model = tv.llava()
    expected, actual = both(model, llava_inputs(model), **STRATEGIES[strategy])
    assert_parity(expected, actual)


@pytest.mark.parametrize("strategy", STRATEGY_CASES)
def test_qwen2_vl(strategy):
    model = tv.qwen2_vl()
    rows, images = qwen2_vl_rows()
    expected, actual = both(model, with_token_types(*tv.left_padded(rows), images), **STRATEGIES[strategy])
    assert_parity(expected, actual)
    if strategy == "greedy":  # a row left the batch early, and the others' M-RoPE positions followed
        assert "eos" in {r.value for r in actual.finish_reasons}


def test_qwen2_vl_right_padded_prompts_are_left_padded():
    """Right padding is moved left (with the token types, which follow the prompt): the reference
    given the left-padded batch decodes the same tokens."""
    model = tv.qwen2_vl()
    rows, images = qwen2_vl_rows()
    width = max(len(r) for r in rows)
    right_ids = torch.tensor([r + [tv.PAD] * (width - len(r)) for r in rows])
    right = with_token_types(right_ids, (right_ids != tv.PAD).long(), images)
    expected, actual = both(model, right, reference_inputs=with_token_types(*tv.left_padded(rows), images))
    assert_parity(expected, actual)


@pytest.mark.parametrize("model_name", ["llava", "qwen2_vl"])
@pytest.mark.parametrize("strategy", STRATEGY_CASES)
def test_a_static_cache_and_a_compiled_step_give_the_reference_tokens(model_name, strategy):
    """Three images, left-padded prompts of unequal length: over a static cache the model's own input preparation
    makes the masks as wide as the cache; with ``compile=True`` the decode steps after the first run compiled
    (greedy only: the compiled graph is the same step, and compiling costs seconds per shape)."""
    if model_name == "llava":
        model = tv.llava()
        inputs = llava_inputs(model)
    else:
        model = tv.qwen2_vl()
        rows, images = qwen2_vl_rows()
        inputs = with_token_types(*tv.left_padded(rows), images)
    expected = model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False, **STRATEGIES[strategy])
    static = mmgen.generate(model, **inputs, max_new_tokens=NEW_TOKENS, cache="static", **STRATEGIES[strategy])
    assert_parity(expected, static)
    if strategy == "greedy":
        compiled = mmgen.generate(model, **inputs, max_new_tokens=NEW_TOKENS, compile=True)
        assert_parity(expected, compiled)
        assert compiled.timings.compile_seconds > 0
