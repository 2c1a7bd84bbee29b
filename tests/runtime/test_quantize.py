"""mmgen.quantize(model, "int8"): which layers it replaces, what they compute, what it refuses, and that both
mmgen.generate and model.generate run the result with the same tokens."""

from __future__ import annotations

import copy
import gc

import pytest
import torch
from tiny_models import ENCODER_DECODER, conv1d_probes, prompts, sized_gpt2, tiny_model
from transformers.pytorch_utils import Conv1D

import mmgen
from mmgen.runtime import Int8Linear, QuantizationError, int8_layers, quantize
from mmgen.runtime.quantize import MINIMUM_SIZE


def test_an_int8_layer_multiplies_by_its_per_row_quantized_weight():
    torch.manual_seed(0)
    weight, bias, x = torch.randn(48, 40), torch.randn(48), torch.randn(5, 40)
    layer = Int8Linear.from_float(weight, bias)
    dequantized = layer.weight()
    scale = weight.abs().amax(dim=1, keepdim=True) / 127
    # each weight within half a step of its row's scale: symmetric per-row rounding
    assert ((dequantized - weight).abs() <= scale / 2 + 1e-6).all()
    assert torch.allclose(dequantized / scale, torch.round(weight / scale), atol=1e-4)
    # the product: the float product of the dequantized weight, up to the activations' 7-bit rounding
    exact = torch.nn.functional.linear(x, dequantized, bias)
    got = layer(x)
    assert got.shape == (5, 48) and got.dtype == torch.float32
    assert (got - exact).abs().max() < 0.05 * exact.abs().max()
    # batched leading dimensions are kept
    assert layer(x.view(1, 5, 40)).shape == (1, 5, 48)


def test_gpt2_conv1d_and_the_tied_output_layer_become_int8_and_the_embeddings_stay_float32():
    model = sized_gpt2()
    probes = conv1d_probes(model)
    embeddings = model.transformer.wte.weight.detach().clone()
    assert model.lm_head.weight is model.transformer.wte.weight  # tied before

    assert quantize(model, "int8", minimum_size=0) is model  # in place
    assert int8_layers(model) == [*probes, "lm_head"]
    for name, (x, expected) in probes.items():
        layer = model.get_submodule(name)
        assert isinstance(layer, Int8Linear)
        assert (layer(x) - expected).abs().max() < 0.05 * expected.abs().max() + 1e-3, name
    assert model.transformer.wte.weight.dtype == torch.float32
    assert torch.equal(model.transformer.wte.weight, embeddings)
    # the output layer multiplies by the embeddings, quantized
    assert (model.lm_head.weight() - embeddings).abs().max() <= embeddings.abs().max() / 127


def test_the_default_rule_quantizes_only_layers_of_minimum_size():
    model = sized_gpt2(vocab=4096, width=32)  # lm_head: 32 x 4096 = 2**17 weights; the blocks' are far smaller
    assert model.lm_head.weight.numel() == MINIMUM_SIZE
    quantize(model, "int8")
    assert int8_layers(model) == ["lm_head"]
    assert all(type(m) is Conv1D for m in model.transformer.h[0].attn.children() if not isinstance(m, torch.nn.Dropout))


@pytest.mark.parametrize("name", ["gpt2", "llama", *ENCODER_DECODER])
def test_mmgen_and_model_generate_give_the_same_tokens_on_the_int8_model(name):
    model = quantize(tiny_model(name), "int8", minimum_size=0)
    assert int8_layers(model)
    ids, mask = prompts(left=name not in ENCODER_DECODER)
    options = dict(max_new_tokens=8, do_sample=False)
    expected = model.generate(input_ids=ids, attention_mask=mask, **options)
    assert torch.equal(mmgen.generate(model, input_ids=ids, attention_mask=mask, **options).sequences, expected)
    beams = dict(options, num_beams=3)
    expected = model.generate(input_ids=ids, attention_mask=mask, **beams)
    assert torch.equal(mmgen.generate(model, input_ids=ids, attention_mask=mask, **beams).sequences, expected)


def test_int8_logits_stay_close_to_float32():
    model = tiny_model("llama")
    quantized = quantize(copy.deepcopy(model), "int8", minimum_size=0)
    ids, mask = prompts()
    with torch.inference_mode():
        a = model(input_ids=ids, attention_mask=mask).logits
        b = quantized(input_ids=ids, attention_mask=mask).logits
    assert not torch.equal(a, b)
    assert (a - b).abs().max() < 0.1 * a.abs().max()


def test_quantizing_twice_changes_nothing_and_the_float_weights_are_gone():
    model = quantize(sized_gpt2(), "int8", minimum_size=0)
    layers = [model.get_submodule(name) for name in int8_layers(model)]
    assert quantize(model, "int8", minimum_size=0) is model
    assert [model.get_submodule(name) for name in int8_layers(model)] == layers
    # what is left as parameters: the embeddings and the layer norms (the int8 layers hold their own bias)
    left = {name.rsplit(".", 1)[0] for name, _ in model.named_parameters()}
    assert left == {"transformer.wte", "transformer.wpe", "transformer.ln_f",
                    *(f"transformer.h.{i}.{norm}" for i in range(2) for norm in ("ln_1", "ln_2"))}


def test_a_quantized_model_refuses_to_be_saved(tmp_path):
    model = quantize(sized_gpt2(), "int8", minimum_size=0)
    with pytest.raises(RuntimeError, match="save the float32 model"):
        model.save_pretrained(tmp_path)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_refused_before_any_layer_changes(dtype):
    model = sized_gpt2().to(dtype)
    with pytest.raises(QuantizationError, match=f"{str(dtype)}.*model.float()"):
        quantize(model, "int8", minimum_size=0)
    assert int8_layers(model) == []


def test_a_model_off_the_cpu_is_refused():
    model = sized_gpt2().to("meta")  # a device other than the CPU, as a CUDA model would be
    with pytest.raises(QuantizationError, match="on the CPU.*meta"):
        quantize(model, "int8")


def test_an_unknown_scheme_is_refused():
    with pytest.raises(QuantizationError, match="'int4'.*int8"):
        quantize(sized_gpt2(), "int4")


def test_another_quantized_engine_is_refused_with_the_setting_that_fixes_it():
    if "qnnpack" not in torch.backends.quantized.supported_engines:
        pytest.skip("this torch has no second quantized engine")
    engine = torch.backends.quantized.engine
    torch.backends.quantized.engine = "qnnpack"
    try:
        with pytest.raises(QuantizationError, match="'qnnpack'.*torch.backends.quantized.engine = 'x86'"):
            quantize(sized_gpt2(), "int8")
    finally:
        torch.backends.quantized.engine = engine


def test_the_public_name():
    assert mmgen.quantize is quantize and mmgen.QuantizationError is QuantizationError


def test_int8_layers_compile_into_one_graph():
    """Under torch.compile the int8 layers are a custom operator, not a graph break: fullgraph=True traces the
    whole forward, and the logits are the eager ones (up to float rounding of the fused float ops)."""
    model = quantize(sized_gpt2(), "int8", minimum_size=0)
    ids, mask = prompts()
    with torch.inference_mode():
        eager = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        compiled = torch.compile(model, fullgraph=True)(input_ids=ids, attention_mask=mask, use_cache=False).logits
    assert torch.allclose(compiled, eager, atol=1e-5, rtol=1e-5)


def test_a_copy_of_an_int8_layer_is_a_layer_of_its_own():
    from mmgen.runtime.int8_linear import LIVE_LAYERS

    layer = Int8Linear.from_float(torch.randn(8, 4), None)
    twin = copy.deepcopy(layer)
    assert twin.number != layer.number and LIVE_LAYERS[twin.number] is twin
    x = torch.randn(2, 4)
    expected = layer(x)
    assert torch.equal(twin(x), expected)
    number = layer.number
    del layer
    gc.collect()
    assert number not in LIVE_LAYERS  # the original left the registry; its copy still runs
    assert torch.equal(twin(x), expected)
