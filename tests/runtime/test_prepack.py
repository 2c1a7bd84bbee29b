"""mmgen.prepack(model): which layers it replaces, that they compute the same product as the plain layers (up to
summation order), that greedy tokens equal the plain model's on several families, and what it refuses."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from tiny_models import ENCODER_DECODER, conv1d_probes, prompts, sized_gpt2, tiny_model
from tiny_speech import seeded_whisper

import mmgen
from mmgen.runtime import PackedLinear, PrepackError, packed_layers, prepack
from mmgen.runtime.packed_linear import MIN_ROWS
from mmgen.runtime.prepack import MINIMUM_SIZE

GREEDY = {"max_new_tokens": 10, "do_sample": False}


@pytest.mark.parametrize("rows", [1, 2, MIN_ROWS - 1, MIN_ROWS, 9, 300])
@pytest.mark.parametrize("bias", [True, False])
def test_a_packed_layer_computes_the_linear_product(rows, bias):
    """Every row count, the padded ones (under MIN_ROWS) included: F.linear's product up to summation order."""
    torch.manual_seed(rows)
    weight, x = torch.randn(200, 96), torch.randn(rows, 96)
    b = torch.randn(200) if bias else None
    layer = PackedLinear.from_dense(weight, b)
    got, expected = layer(x), torch.nn.functional.linear(x, weight, b)
    assert got.shape == (rows, 200) and got.dtype == torch.float32
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-5)
    assert torch.equal(layer.weight(), weight)


def test_leading_dimensions_and_strided_inputs_are_kept():
    torch.manual_seed(0)
    weight, bias = torch.randn(64, 48), torch.randn(64)
    layer = PackedLinear.from_dense(weight, bias)
    for x in (torch.randn(2, 5, 48), torch.randn(1, 1, 48), torch.randn(3, 7, 48)[:, -1:, :], torch.randn(48, 6).t()):
        expected = torch.nn.functional.linear(x, weight, bias)
        got = layer(x)
        assert got.shape == expected.shape
        assert torch.allclose(got, expected, atol=1e-4, rtol=1e-5)


def test_gpt2_conv1d_and_the_tied_output_layer_are_packed_and_the_embeddings_stay():
    model = sized_gpt2()
    probes = conv1d_probes(model)
    embeddings = model.transformer.wte.weight.detach().clone()
    assert model.lm_head.weight is model.transformer.wte.weight  # tied before

    assert prepack(model, minimum_size=0) is model  # in place
    assert packed_layers(model) == [*probes, "lm_head"]
    for name, (x, expected) in probes.items():
        layer = model.get_submodule(name)
        assert isinstance(layer, PackedLinear)
        assert torch.allclose(layer(x), expected, atol=1e-5), name
    # the embeddings keep their dense weight; the output layer multiplies by a packed copy of it
    assert torch.equal(model.transformer.wte.weight, embeddings)
    assert torch.equal(model.lm_head.weight(), embeddings)
    # what is left as parameters: the embeddings and the layer norms (the packed layers hold their own bias)
    left = {name.rsplit(".", 1)[0] for name, _ in model.named_parameters()}
    assert left == {"transformer.wte", "transformer.wpe", "transformer.ln_f",
                    *(f"transformer.h.{i}.{norm}" for i in range(2) for norm in ("ln_1", "ln_2"))}


def test_the_default_rule_packs_only_layers_of_minimum_size():
    model = sized_gpt2(vocab=4096, width=32)  # lm_head: 32 x 4096 = 2**17 weights; the blocks' are far smaller
    assert model.lm_head.weight.numel() == MINIMUM_SIZE
    prepack(model)
    assert packed_layers(model) == ["lm_head"]


def test_a_model_with_no_layer_large_enough_stays_as_it_is_with_a_warning(caplog):
    model = sized_gpt2()
    with caplog.at_level("WARNING", logger="mmgen"):
        prepack(model)
    assert packed_layers(model) == []
    assert "minimum_size=0" in caplog.text


@pytest.mark.parametrize("name", ["gpt2", "llama", "qwen2", *ENCODER_DECODER])
def test_greedy_tokens_equal_the_plain_models_on_every_family(name):
    """The plain path's tokens (model.generate on the unpacked model), from mmgen.generate and model.generate on
    the packed one; greedy and beam search; logits within float rounding of the plain model's."""
    plain = tiny_model(name)
    packed = prepack(copy.deepcopy(plain), minimum_size=0)
    assert packed_layers(packed)
    ids, mask = prompts(left=name not in ENCODER_DECODER)
    expected = plain.generate(input_ids=ids, attention_mask=mask, **GREEDY)
    assert torch.equal(mmgen.generate(packed, input_ids=ids, attention_mask=mask, **GREEDY).sequences, expected)
    assert torch.equal(packed.generate(input_ids=ids, attention_mask=mask, **GREEDY), expected)
    beams = dict(GREEDY, num_beams=3)
    expected = plain.generate(input_ids=ids, attention_mask=mask, **beams)
    assert torch.equal(mmgen.generate(packed, input_ids=ids, attention_mask=mask, **beams).sequences, expected)
    decoder = {"decoder_input_ids": ids[:, :4]} if name in ENCODER_DECODER else {}
    with torch.inference_mode():
        a = plain(input_ids=ids, attention_mask=mask, **decoder).logits
        b = packed(input_ids=ids, attention_mask=mask, **decoder).logits
    assert torch.allclose(a, b, atol=1e-4)


def test_whisper_greedy_tokens_equal_the_plain_models():
    plain = seeded_whisper(0)
    packed = prepack(copy.deepcopy(plain), minimum_size=0)
    assert "proj_out" in packed_layers(packed) and "model.encoder.layers.0.fc1" in packed_layers(packed)
    features = torch.randn(2, 80, 3000, generator=torch.Generator().manual_seed(0))
    options = dict(GREEDY, language="en", task="transcribe")
    # each engine against itself on the plain model (transformers' Whisper generate reads max_new_tokens its own way)
    expected = mmgen.generate(plain, input_features=features, **options).sequences
    assert torch.equal(mmgen.generate(packed, input_features=features, **options).sequences, expected)
    assert torch.equal(packed.generate(input_features=features, **options), plain.generate(input_features=features,
                                                                                           **options))


def test_a_wider_model_keeps_its_tokens_and_its_logits_within_1e_4():
    """768 wide: oneDNN's blocked kernels sum in another order than F.linear, so the logits move by float rounding."""
    plain = sized_gpt2(vocab=512, width=768)
    packed = prepack(copy.deepcopy(plain))
    assert len(packed_layers(packed)) == 9  # 4 Conv1D per block, the output layer
    ids, mask = prompts(batch=3)
    with torch.inference_mode():
        a = plain(input_ids=ids, attention_mask=mask).logits
        b = packed(input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(a, b, atol=1e-4)
    for batch in (1, 3):  # one row per step (padded to MIN_ROWS) and several
        expected = plain.generate(input_ids=ids[:batch], attention_mask=mask[:batch], **GREEDY)
        got = mmgen.generate(packed, input_ids=ids[:batch], attention_mask=mask[:batch], **GREEDY)
        assert torch.equal(got.sequences, expected)


def test_packing_twice_changes_nothing():
    model = prepack(sized_gpt2(), minimum_size=0)
    layers = [model.get_submodule(name) for name in packed_layers(model)]
    assert prepack(model, minimum_size=0) is model
    assert [model.get_submodule(name) for name in packed_layers(model)] == layers


def test_a_copy_and_a_pickle_repack_the_same_weights():
    model = prepack(sized_gpt2(), minimum_size=0)
    ids, mask = prompts()
    expected = mmgen.generate(model, input_ids=ids, attention_mask=mask, **GREEDY).sequences
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert packed_layers(twin) == packed_layers(model)
        assert torch.equal(twin.lm_head.weight(), model.lm_head.weight())
        assert torch.equal(mmgen.generate(twin, input_ids=ids, attention_mask=mask, **GREEDY).sequences, expected)


def test_a_packed_model_refuses_to_be_saved(tmp_path):
    model = prepack(sized_gpt2(), minimum_size=0)
    with pytest.raises(RuntimeError, match="save the unpacked model"):
        model.save_pretrained(tmp_path)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_refused_before_any_layer_changes(dtype):
    model = sized_gpt2().to(dtype)
    with pytest.raises(PrepackError, match=f"{dtype!s}.*model.float()"):
        prepack(model, minimum_size=0)
    assert packed_layers(model) == []


def test_a_model_off_the_cpu_is_refused():
    model = sized_gpt2().to("meta")  # a device other than the CPU, as a CUDA model would be
    with pytest.raises(PrepackError, match="CPU.*meta"):
        prepack(model)


def test_a_packed_layer_cast_afterwards_says_what_to_do():
    model = prepack(sized_gpt2(), minimum_size=0).to(torch.bfloat16)  # the embeddings cast, the packed layers not
    ids, mask = prompts()
    with pytest.raises(PrepackError, match="float32 inputs on the CPU; it got torch.bfloat16"):
        model(input_ids=ids, attention_mask=mask)


def test_packed_layers_compile_into_one_graph():
    """Under torch.compile the packed layers are a custom operator: fullgraph=True traces the whole forward."""
    model = prepack(sized_gpt2(), minimum_size=0)
    ids, mask = prompts()
    with torch.inference_mode():
        eager = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        compiled = torch.compile(model, fullgraph=True)(input_ids=ids, attention_mask=mask, use_cache=False).logits
    assert torch.allclose(compiled, eager, atol=1e-5, rtol=1e-5)


def test_the_public_names():
    assert mmgen.prepack is prepack and mmgen.PrepackError is PrepackError
