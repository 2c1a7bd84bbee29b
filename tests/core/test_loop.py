"""The shared decode loop and the token adapter, driven by a mock model (no transformers)."""

import torch

from mmgen.core.decode import TokenBuffer, decode_tokens
from mmgen.core.frames import FinishReason
from mmgen.core.selectors import greedy
from mmgen.core.stopping import StoppingRule

VOCAB, PAD, EOS = 10, 0, 9


class ScriptedStep:
    """A mock model step: row r emits script[r][i] at step i (as a one-hot logit)."""

    def __init__(self, script):
        self.script = torch.tensor(script)
        self.index = 0
        self.fed = []

    def logits(self):
        logits = torch.full((self.script.shape[0], VOCAB), -5.0)
        logits[torch.arange(self.script.shape[0]), self.script[:, self.index]] = 5.0
        return logits

    def prefill(self):
        return self.logits()

    def step(self, tokens):
        self.fed.append(tokens.clone())
        self.index += 1
        return self.logits()


def run(script, max_new_tokens=6, eos=(EOS,)):
    prompt = torch.tensor([[3, 4]] * len(script))
    buffer = TokenBuffer(prompt, prompt.shape[1] + max_new_tokens, PAD)
    stopping = StoppingRule(torch.tensor(eos), prompt.shape[1] + max_new_tokens)
    step = ScriptedStep(script)
    steps = list(decode_tokens(step, buffer, [], greedy, stopping, PAD))
    return steps, buffer, step


def test_rows_finish_on_their_own_and_get_pad_after():
    steps, buffer, step = run([[5, EOS, 7, 7, 7, 7], [5, 6, 7, 8, EOS, 1]])
    assert buffer.view.tolist() == [[3, 4, 5, EOS, PAD, PAD, PAD], [3, 4, 5, 6, 7, 8, EOS]]
    final = steps[-1]
    assert [FinishReason.from_code(int(c)) for c in final.finish_codes] == [FinishReason.EOS, FinishReason.EOS]
    assert len(steps) == 5  # stops as soon as the last row ends
    assert steps[2].active.tolist() == [False, True]


def test_length_limit_marks_length():
    steps, buffer, _ = run([[5, 6, 7, 8], [5, EOS, 1, 1]], max_new_tokens=3)
    reasons = [FinishReason.from_code(int(c)) for c in steps[-1].finish_codes]
    assert reasons == [FinishReason.LENGTH, FinishReason.EOS]
    assert buffer.view.shape == (2, 5)


def test_model_is_fed_each_step_tokens_including_pads():
    steps, _, step = run([[5, EOS, 7, 7], [5, 6, 7, EOS]], max_new_tokens=4)
    assert [t.tolist() for t in step.fed] == [[5, 5], [EOS, 6], [PAD, 7]]


def test_logprobs_are_of_the_chosen_tokens_and_zero_after_finishing():
    steps, _, _ = run([[5, EOS, 7], [5, 6, EOS]], max_new_tokens=3)
    expected = torch.log_softmax(torch.tensor([5.0] + [-5.0] * (VOCAB - 1)), -1)[0]
    torch.testing.assert_close(steps[0].logprobs, expected.expand(2), atol=1e-6, rtol=1e-4)
    assert steps[2].logprobs[0] == 0.0
