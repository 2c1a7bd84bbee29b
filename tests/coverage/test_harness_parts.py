"""The sweep's pure parts on hand-made inputs: config shrinking, special-id moves, mismatch-error reading,
cause grouping. Fast; not marked ``coverage``."""

from __future__ import annotations

import time

import architectures
import isolated_runner
import placeholder_prompts
import report
import special_ids
import tiny_configs
import torch


def test_a_layer_pattern_keeps_one_layer_of_each_kind_and_lists_follow():
    config = {"model_type": "x", "num_hidden_layers": 6, "hidden_size": 4096, "num_attention_heads": 32,
              "layer_types": ["linear", "linear", "full", "linear", "linear", "full"],
              "mlp_only_layers": [2, 5], "window_sizes": [1, 2, 3, 4, 5, 6]}
    shrunk = tiny_configs.shrink(config)
    assert shrunk["num_hidden_layers"] == 2
    assert shrunk["layer_types"] == ["linear", "full"]
    assert shrunk["mlp_only_layers"] == [1]  # layer 2 (the first full layer) is now layer 1
    assert shrunk["window_sizes"] == [1, 3]
    assert (shrunk["hidden_size"], shrunk["num_attention_heads"]) == (tiny_configs.WIDTH, tiny_configs.HEADS)
    assert config["num_hidden_layers"] == 6  # the input is not touched


def test_sub_configs_shrink_and_m_rope_sections_fit_the_shrunk_head():
    config = {"model_type": "x", "text_config": {
        "model_type": "t", "hidden_size": 3584, "num_attention_heads": 28, "head_dim": 128,
        "rope_parameters": {"rope_type": "default", "mrope_section": [16, 24, 24]}}}
    text = tiny_configs.shrink(config)["text_config"]
    assert text["head_dim"] == tiny_configs.HEAD_DIM
    assert sum(text["rope_parameters"]["mrope_section"]) == tiny_configs.HEAD_DIM // 2
    assert text["rope_parameters"]["mrope_section"] == [2, 3, 3]


def test_special_ids_past_the_vocabulary_move_to_its_top_consistently():
    config = {"model_type": "x", "image_token_id": 151655, "text_config": {
        "model_type": "t", "vocab_size": 256, "eos_token_id": [151645, 2], "pad_token_id": 151655}}
    special_ids.remap_special_ids(config)
    assert config["image_token_id"] == 255
    assert config["text_config"]["pad_token_id"] == 255  # the same old id, the same new one
    assert config["text_config"]["eos_token_id"] == [254, 2]


def test_mismatch_errors_are_read_in_both_wordings():
    read = placeholder_prompts._read_counts
    assert read("Image features and image tokens do not match, tokens: 2, features: 1152") == (2, 1152)
    assert read("Image features and image tokens do not match: tokens: 2, features 25088") == (2, 25088)
    assert read("Got 512 feature vectors for 2 placeholder tokens (id 200)") == (2, 512)
    assert read("shape '[2, 27, 13, 128]' is invalid") is None


def test_causes_group_across_model_classes():
    a = "OptionError: Qwen2_5_VLForConditionalGeneration places tokens with M-RoPE (get_rope_index)"
    b = "OptionError: Glm4vForConditionalGeneration places tokens with M-RoPE (get_rope_index)"
    assert report.cause_key(a) == report.cause_key(b)
    assert report.cause_key("tokens differ at position 12 (new token 3)") == "tokens differ at position N (new token N)"


def test_the_readme_table_is_the_one_generated_from_the_baseline():
    import results
    import sweep

    rows, meta = results.load_document(sweep.BASELINE)
    readme = sweep.README.read_text(encoding="utf-8")
    block = report.readme_block(rows, meta)
    assert block in readme, "README's table of architectures is stale: run python tests/coverage/sweep.py --readme"
    assert sum(line.startswith("| ") and " | ✓ |" in line for line in block.splitlines()) > 0
    # the table lists every class of the baseline once
    listed = [line.split(" | ")[1] for line in block.split("<details>")[1].splitlines() if line.startswith("| ")][1:]
    assert sorted(listed) == sorted(r["class_name"] for r in rows)


def _holding(megabytes: int):
    """A stand-in for `check_architecture`: allocates ``megabytes`` of its own, then reports greedy as passing."""
    def check(arch, strategies):
        held = torch.ones(megabytes * 2**20 // 4)  # touched, so resident
        time.sleep(2.5)  # the runner samples memory about once a second
        yield {"stage": "greedy", "status": "pass", "cause": str(held.numel())}
    return check


def _run_one(check, monkeypatch) -> list[dict]:
    monkeypatch.setattr(isolated_runner, "check_architecture", check)
    arch = architectures.Architecture("GPT2LMHeadModel", "gpt2", "decoder-only text", ("CAUSAL_LM",))
    results: list[list[dict]] = []
    isolated_runner.run_isolated([arch], lambda a, records: results.append(records), strategies=("greedy",),
                                 memory_limit_gb=0.25)
    return results[0]


def test_the_memory_limit_counts_what_the_child_allocates_not_what_it_shares_with_the_parent(monkeypatch):
    parent_ballast = torch.ones(2**30 // 4)  # 1 GiB the forked child maps but does not own
    assert [r["status"] for r in _run_one(_holding(16), monkeypatch)] == ["pass"]
    over = _run_one(_holding(600), monkeypatch)
    assert over[-1]["status"] == isolated_runner.MEMORY
    assert float(over[-1]["cause"].split()[0]) > 0.25
    del parent_ballast


def test_a_fast_path_is_checked_against_the_plain_greedy_call_and_a_refusal_is_its_own_status():
    import parity
    import transformers

    config = transformers.GPT2Config(vocab_size=64, n_embd=16, n_layer=1, n_head=2, n_positions=64)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config).eval()
    inputs = {"input_ids": torch.tensor([[5, 6, 7, 8], [0, 9, 10, 11]]),
              "attention_mask": torch.tensor([[1, 1, 1, 1], [0, 1, 1, 1]])}
    assert parity.strategy_options(model, "static", 4) == parity.strategy_options(model, "greedy", 4)
    assert parity.check(model, inputs, "static", new_tokens=4).status == parity.PASS

    class Undeclared(transformers.GPT2LMHeadModel):
        _can_compile_fullgraph = False

    undeclared = Undeclared(config).eval()
    outcome = parity.check(undeclared, inputs, "static", new_tokens=4)
    assert outcome.status == parity.REFUSED and "static cache" in outcome.cause
    outcome = parity.check(undeclared, inputs, "compiled", new_tokens=4)  # compile=True alone: warned, eager
    assert outcome.status == parity.PASS and outcome.cause == "ran uncompiled"
    rows = [{"class_name": "A", "model_type": "a", "group": architectures.GROUPS[0],
             "static": {"status": "pass", "cause": ""}, "compiled": {"status": "refused", "cause": "why"}}]
    assert report.strategies_in(rows) == ("static", "compiled")
    assert "compiled pass" in report.summary(rows) and "refused 1" in report.summary(rows)
