"""Train ``demo/tts``: a tiny SpeechT5 that speaks the synthetic-speech grammar in one espeak-ng voice.

    python -m mmgen.demo.training.train_tts --out mmgen/demo/models/tts --asr mmgen/demo/models/asr

Steps: draw training utterances from `mmgen.demo.data.speech` and speak them with one voice
(`VOICE`); compute their log-mel targets with ``SpeechT5FeatureExtractor`` (80 mels, 16 kHz,
16 ms hop: what the Griffin-Lim vocoder inverts); train a character-level SentencePiece model
and a ``SpeechT5Tokenizer`` on it; train a small ``SpeechT5ForTextToSpeech`` (L1 on the mel
before and after the postnet, stop-token BCE, guided attention loss, all transformers' own
loss) with a fixed speaker embedding (shipped as ``speaker_embedding.npy``); then score the
round trip: synthesize held-out sentences with ``mmgen.generate`` (Griffin-Lim), transcribe
them with ``demo/asr`` through ``mmgen.generate``, and print the word error rate.
Reproducible bit for bit from ``--seed`` at a given ``--threads`` on one kind of processor (float
sums differ across thread counts and CPU kernels).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import sentencepiece as spm
import torch
from transformers import (
    AutoProcessor,
    GenerationConfig,
    SpeechT5Config,
    SpeechT5FeatureExtractor,
    SpeechT5ForTextToSpeech,
    SpeechT5Processor,
    SpeechT5Tokenizer,
    WhisperForConditionalGeneration,
)

import mmgen
from mmgen.demo.data import speech
from mmgen.demo.training.loop import cpu_time, fit
from mmgen.demo.training.speech_scoring import transcribe, word_error_rate

VOICE = speech.Voice("en-us", None, speed=170, pitch=50)  # a training voice of demo/asr
SPEAKER_EMBEDDING = "speaker_embedding.npy"
SPEAKER_DIM = 16
SAMPLE_SENTENCES = "tts_sentences.txt"


# Text normalization inside the SentencePiece model: A-Z to lower case, sentence punctuation to a
# space (SentencePiece then collapses spaces), so "Set a timer for five minutes!" reads as the
# grammar's "set a timer for five minutes" rather than with <unk>s. (hex code point -> hex code point)
NORMALIZATION_RULES = [f"{c:X}\t{c + 32:X}" for c in range(ord("A"), ord("Z") + 1)] + \
                      [f"{ord(c):X}\t20" for c in '.,!?;:"()…']


def build_processor(texts: Sequence[str], out: Path) -> SpeechT5Processor:
    """A character-level SentencePiece model (ids: <s> 0, <pad> 1, </s> 2, <unk> 3, as SpeechT5's) and its processor.

    The tokenizer lower-cases and drops punctuation (`NORMALIZATION_RULES`) and spells digits out
    (``SpeechT5Tokenizer(normalize=True)``: "5" -> "five")."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "spm_char"
        corpus, rules = prefix.with_suffix(".txt"), prefix.with_suffix(".tsv")
        corpus.write_text("\n".join(texts), encoding="utf-8")
        rules.write_text("\n".join(NORMALIZATION_RULES) + "\n", encoding="utf-8")
        spm.SentencePieceTrainer.train(
            input=str(corpus), model_prefix=str(prefix), model_type="char", vocab_size=64, hard_vocab_limit=False,
            character_coverage=1.0, bos_id=0, pad_id=1, eos_id=2, unk_id=3, num_threads=1, minloglevel=2,
            normalization_rule_tsv=str(rules),  # (NFKC's tables would add 240 kB for a plain-ASCII grammar)
        )
        tokenizer = SpeechT5Tokenizer(str(prefix.with_suffix(".model")), model_max_length=128, normalize=True)
        processor = SpeechT5Processor(feature_extractor=SpeechT5FeatureExtractor(), tokenizer=tokenizer)
        processor.save_pretrained(out)
    return SpeechT5Processor.from_pretrained(out)


def build_model(processor: SpeechT5Processor, seed: int, hidden: int, ffn: int, reduction: int,
                mel_mean: torch.Tensor, dropout: float = 0.0) -> SpeechT5ForTextToSpeech:
    """``mel_mean``: (num_mel_bins,) the training targets' mean, the output layer's initial bias."""
    torch.manual_seed(seed)
    tokenizer = processor.tokenizer
    config = SpeechT5Config(
        vocab_size=len(tokenizer), hidden_size=hidden, encoder_layers=3, encoder_attention_heads=2,
        encoder_ffn_dim=ffn, decoder_layers=2, decoder_attention_heads=2, decoder_ffn_dim=ffn,
        encoder_layerdrop=0.0, decoder_layerdrop=0.0, hidden_dropout=dropout, attention_dropout=dropout,
        activation_dropout=dropout, positional_dropout=dropout, speech_decoder_prenet_dropout=0.5,
        speech_decoder_prenet_units=128, speech_decoder_postnet_units=128, speech_decoder_postnet_layers=5,
        speaker_embedding_dim=SPEAKER_DIM, reduction_factor=reduction, num_mel_bins=80,
        max_text_positions=128, max_speech_positions=1300,
        use_guided_attention_loss=True, guided_attention_loss_num_heads=2,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=2,
    )
    model = SpeechT5ForTextToSpeech(config)
    # transformers draws embeddings and linear weights from N(0, 0.02): the character embeddings and the
    # decoder prenet's output are then ~50x smaller than the scaled positional encodings added to them
    # (amplitude 1, Li et al. 2019 section 3.2), and the model learns alignment without content. Unit
    # embeddings and He-initialized prenet layers put content and position on the same scale.
    embeddings = model.speecht5.encoder.prenet.embed_tokens.weight
    with torch.no_grad():
        embeddings.normal_(std=1.0)[tokenizer.pad_token_id].zero_()
    prenet = model.speecht5.decoder.prenet
    for layer in [*prenet.layers, prenet.final_layer, prenet.speaker_embeds_layer]:
        torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        torch.nn.init.zeros_(layer.bias)
    # The targets are log10 mels around -3; from a zero bias, AdamW (steps of ~lr) would spend
    # thousands of steps only moving the output there.
    with torch.no_grad():
        model.speech_decoder_postnet.feat_out.bias.copy_(mel_mean.repeat(reduction))
    model.generation_config = GenerationConfig(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                                               eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=2)
    return model


def speaker_embedding() -> np.ndarray:
    """(SPEAKER_DIM,) the fixed speaker vector: the model has one voice, so the vector only has to be constant.

    It is mmgen's documented default speaker (`mmgen.tasks.text_to_speech.default_speaker`:
    ``sin(0.37 * i + 0.5)``, L2-normalized), so ``mmgen speak`` without ``--speaker`` uses the voice
    the model learned."""
    vector = np.sin(0.37 * np.arange(SPEAKER_DIM, dtype=np.float64) + 0.5)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def mel_targets(processor: SpeechT5Processor, audio: Sequence[np.ndarray]) -> list[torch.Tensor]:
    """Per clip (frames, 80) log10-mel, what ``SpeechT5Processor(audio_target=...)`` computes."""
    extractor = processor.feature_extractor
    return [extractor(audio_target=a, sampling_rate=speech.SAMPLING_RATE, return_tensors="pt").input_values[0]
            for a in audio]


def batch(processor: SpeechT5Processor, texts: Sequence[str], mels: Sequence[torch.Tensor],
          reduction: int) -> dict[str, torch.Tensor]:
    """Padded inputs and labels (-100 after each clip, frames a multiple of the reduction factor)."""
    inputs = processor.tokenizer(list(texts), padding=True, return_tensors="pt")
    frames = max(m.shape[0] for m in mels)
    frames += -frames % reduction
    labels = torch.full((len(mels), frames, mels[0].shape[1]), -100.0)
    for i, m in enumerate(mels):
        labels[i, : m.shape[0]] = m
    return {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"], "labels": labels}


def decoder_inputs(labels: torch.Tensor, reduction: int, drop: float, generator: torch.Generator) -> torch.Tensor:
    """(batch, steps, mel) the teacher-forced decoder input (as transformers' ``shift_spectrograms_right``: the last
    frame of each previous step, zeros first), with each step's frame zeroed with probability ``drop``."""
    frames = labels[:, reduction - 1::reduction]
    shifted = torch.cat([torch.zeros_like(frames[:, :1]), frames[:, :-1]], dim=1)
    shifted = shifted.masked_fill(shifted == -100.0, 0.0)
    keep = torch.rand(shifted.shape[:2], generator=generator) >= drop
    return shifted * keep[..., None]


def train(model: SpeechT5ForTextToSpeech, processor: SpeechT5Processor, texts: list[str], mels: list[torch.Tensor],
          speaker: np.ndarray, steps: int, batch_size: int, seed: int, lr: float, frame_dropout: float = 0.5) -> None:
    """AdamW on transformers' SpeechT5 loss.

    Frame dropout: each teacher-forced input frame of the decoder is zeroed with probability
    ``frame_dropout``. Fully teacher-forced, a small decoder learns to extrapolate its previous frame
    (the next frame is mostly the last one) and leaves the text unused for thousands of steps; it
    then babbles when it runs on its own output. With frames missing it must read the text through
    the attention from the first steps.
    """
    rng = np.random.default_rng(seed + 3)
    generator = torch.Generator().manual_seed(seed + 4)
    embedding = torch.from_numpy(speaker)[None]
    reduction = model.config.reduction_factor
    # Length-bucketed batches: clips sorted by frames, cut into batches, batches shuffled each epoch.
    by_length = np.argsort([m.shape[0] for m in mels], kind="stable")
    buckets = [by_length[i:i + batch_size] for i in range(0, len(by_length), batch_size)]
    queue: list[np.ndarray] = []

    def loss_at(step: int) -> torch.Tensor:
        nonlocal queue
        if not queue:
            queue = [buckets[i] for i in rng.permutation(len(buckets))]
        rows = queue.pop()
        inputs = batch(processor, [texts[i] for i in rows], [mels[i] for i in rows], reduction)
        inputs["decoder_input_values"] = decoder_inputs(inputs["labels"], reduction, frame_dropout, generator)
        return model(**inputs, speaker_embeddings=embedding.expand(len(rows), -1)).loss

    fit(model, loss_at, steps=steps, lr=lr, warmup=200, log_every=50)


def synthesize(model: SpeechT5ForTextToSpeech, processor: SpeechT5Processor, speaker: np.ndarray,
               texts: Sequence[str], seed: int, batch_size: int = 25) -> list[np.ndarray]:
    """Waveforms (16 kHz) from ``mmgen.generate`` with the Griffin-Lim vocoder."""
    audio: list[np.ndarray] = []
    embedding = torch.from_numpy(speaker)[None]
    for start in range(0, len(texts), batch_size):
        result = mmgen.generate(model, tokenizer=processor, text=list(texts[start:start + batch_size]),
                                speaker_embeddings=embedding, seed=seed + start, vocoder="griffin-lim")
        audio += [a.numpy() for a in result.audio]
    return audio


def round_trip_wer(model: SpeechT5ForTextToSpeech, processor: SpeechT5Processor, speaker: np.ndarray,
                   asr: Path, texts: Sequence[str], seed: int) -> float:
    recognizer = WhisperForConditionalGeneration.from_pretrained(asr).eval()
    asr_processor = AutoProcessor.from_pretrained(asr)
    audio = synthesize(model, processor, speaker, texts, seed)
    return word_error_rate(transcribe(recognizer, asr_processor, audio), texts)


def model_card(args: argparse.Namespace, parameters: int, vocabulary: int, clips: int, minutes: float,
               cpu_minutes: float, wer: float) -> str:
    return f"""# demo/tts: the synthetic-speech grammar -> speech (tiny SpeechT5, Griffin-Lim)

A toy text-to-speech model shipped with mmgen for examples and tests. It speaks the small
grammar of `mmgen.demo.data.speech` in the voice it was trained on (espeak-ng `{VOICE.name}`, {VOICE.speed} wpm,
pitch {VOICE.pitch}); other text comes out garbled. No HiFi-GAN: mmgen's Griffin-Lim vocoder turns its
mel spectrogram into audio, which sounds buzzy and smeared but is intelligible to `demo/asr`.

    import numpy as np, torch
    from transformers import AutoProcessor, SpeechT5ForTextToSpeech
    import mmgen
    from mmgen.demo import demo_path
    path = demo_path("demo/tts")
    processor = AutoProcessor.from_pretrained(path)
    model = SpeechT5ForTextToSpeech.from_pretrained(path)
    speaker = torch.from_numpy(np.load(path / "speaker_embedding.npy"))[None]
    result = mmgen.generate(model, tokenizer=processor, text=["set a timer for five minutes"],
                            speaker_embeddings=speaker, seed=0)
    result.audio[0]  # 16 kHz waveform (Griffin-Lim)

## Model
- `SpeechT5ForTextToSpeech`: hidden {args.hidden}, 3 encoder + 2 decoder layers, 2 heads, FFN {args.ffn},
  decoder prenet 2 x 128 units (dropout 0.5, on at inference too), postnet 5 x 128 channels,
  reduction factor {args.reduction} ({args.reduction} mel frames per decoder step), 80 mel bins, speaker embedding
  dimension {SPEAKER_DIM}; {parameters:,} parameters, float32 safetensors.
- Speaker: one voice. `{SPEAKER_EMBEDDING}` is the fixed ({SPEAKER_DIM},) vector it was trained with, mmgen's
  documented default speaker (`sin(0.37 i + 0.5)`, L2-normalized), so `mmgen speak` without `--speaker`
  uses it too.
- Processor: `SpeechT5Processor` = `SpeechT5FeatureExtractor` (80 mels, 16 kHz, 64 ms window, 16 ms
  hop, 80-7600 Hz: the Griffin-Lim vocoder's parameters) + `SpeechT5Tokenizer` over a character-level
  SentencePiece model ({vocabulary} ids: `<s>` 0, `<pad>` 1, `</s>` 2, `<unk>` 3, `▁` and the characters).
  Its normalization lower-cases A-Z and turns sentence punctuation into spaces, and the tokenizer's
  `normalize=True` spells digits out, so "Set a timer for 5 minutes!" is read as the grammar's
  "set a timer for five minutes".

## Data
{clips} distinct utterances of `mmgen.demo.data.speech` (digit strings, numbers 0-999, short commands; training
side only: no number of `grammar.HELD_OUT_NUMBERS`, no hashed-out sentence) spoken by espeak-ng
`{VOICE.name}`; targets are `SpeechT5FeatureExtractor(audio_target=...)` log-mels.

## Training
{args.steps} steps of {args.batch_size} length-bucketed clips (AdamW, peak lr {args.lr}, warm-up then cosine, no
dropout in the transformer), transformers' SpeechT5 loss (L1 before and after the postnet, stop BCE,
guided attention on 2 heads). Three choices make it learn in minutes:
- character embeddings drawn from N(0, 1) and He-initialized decoder prenet layers (transformers'
  N(0, 0.02) leaves content ~50x below the positional encodings added to it);
- the output layer's bias starts at the targets' mean log-mel;
- frame dropout: each teacher-forced input frame is zeroed with probability {args.frame_dropout}, so the decoder
  must read the text instead of extrapolating its previous frame (without it the model babbles
  when it runs on its own output).
Seed {args.seed}, {args.threads} CPU thread(s): {minutes:.1f} min wall-clock on a shared 2-core machine, synthesis
included ({cpu_minutes:.1f} min of CPU time in this process and espeak-ng).

## Quality
Round trip on {args.eval_size} held-out utterances (numbers never seen in training): synthesized with
`mmgen.generate` (Griffin-Lim vocoder, prenet dropout seeded), transcribed by `demo/asr` with
`mmgen.generate`: word error rate **{wer:.1%}**. `tests/demo/test_tts_demo_quality.py` re-measures it on
other held-out sentences (gate: 25%).

## Reproduce
    python -m mmgen.demo.training.train_tts --out mmgen/demo/models/tts --asr mmgen/demo/models/asr --seed {args.seed} --threads {args.threads}
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("mmgen/demo/models/tts"))
    parser.add_argument("--asr", type=Path, default=Path("mmgen/demo/models/asr"), help="demo/asr, for the round trip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--ffn", type=int, default=384)
    parser.add_argument("--reduction", type=int, default=2, help="mel frames per decoder step")
    parser.add_argument("--frame-dropout", type=float, default=0.5, help="teacher-forced input frames zeroed")
    parser.add_argument("--dropout", type=float, default=0.0, help="in the transformer; the prenet's is 0.5 always")
    # Both cores of a 2-core machine (asr 1.8x, caption 1.5x, tts 1.2x faster than one); give 1 when other
    # jobs share the cores, where two threads spin at every barrier (10x slower).
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-size", type=int, default=100)
    parser.add_argument("--samples", type=Path, default=None,
                        help=f"also (re)write {SAMPLE_SENTENCES} (held-out sentences to say) here (mmgen/demo/samples)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    speech.espeak_path()
    started = time.perf_counter()

    texts = sorted(set(speech.utterances(args.clips, seed=args.seed)))
    random.Random(args.seed).shuffle(texts)
    audio = speech.synthesize_many(texts, [VOICE] * len(texts))
    print(f"synthesized {len(audio)} clips: {time.perf_counter() - started:.0f}s", flush=True)
    processor = build_processor(speech.utterances(20000, seed=args.seed + 10), args.out)
    mels = mel_targets(processor, audio)
    model = build_model(processor, args.seed, args.hidden, args.ffn, args.reduction, torch.cat(mels).mean(0),
                        args.dropout)
    speaker = speaker_embedding()
    print(f"parameters: {sum(p.numel() for p in model.parameters()):,}  vocabulary: {len(processor.tokenizer)}")
    train(model, processor, texts, mels, speaker, args.steps, args.batch_size, args.seed, args.lr, args.frame_dropout)
    minutes = (time.perf_counter() - started) / 60
    cpu_minutes = cpu_time() / 60
    model.save_pretrained(args.out)
    np.save(args.out / SPEAKER_EMBEDDING, speaker)
    held_out = speech.utterances(args.eval_size, seed=args.seed + 1000, held_out=True)
    wer = round_trip_wer(model, processor, speaker, args.asr, held_out, args.seed)
    parameters = sum(p.numel() for p in model.parameters())
    (args.out / "README.md").write_text(model_card(args, parameters, len(processor.tokenizer), len(texts), minutes,
                                                   cpu_minutes, wer),
                                        encoding="utf-8")
    if args.samples is not None:
        sentences = speech.utterances(8, seed=args.seed + 2000, held_out=True)
        (args.samples / SAMPLE_SENTENCES).write_text("\n".join(sentences) + "\n", encoding="utf-8")
    print(f"training time: {minutes:.1f} min wall-clock, {cpu_minutes:.1f} min CPU")
    print(f"held-out round-trip word error rate: {wer:.4f} ({args.eval_size} utterances, demo/asr on Griffin-Lim audio)")


if __name__ == "__main__":
    main()
