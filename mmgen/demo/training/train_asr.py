"""Train ``demo/asr``: a tiny Whisper that transcribes synthetic English speech (digits, numbers, commands).

    python -m mmgen.demo.training.train_asr --out mmgen/demo/models/asr

Steps: draw training utterances from `mmgen.demo.data.speech` and speak each with a random training
voice (espeak-ng language + variant, even speed 130-200 and pitch 30-70); pass a share of them
through SpeechT5's log-mel features and the Griffin-Lim vocoder (mmgen's default TTS vocoder;
sometimes with the mel blurred, as a TTS model's over-smoothed output is) so that vocoded speech
is in-domain for the ``demo/tts`` round trip; train a byte-level BPE on the transcripts and build
a ``WhisperTokenizer`` with Whisper's special and timestamp tokens around it; train a 2+2-layer
``WhisperForConditionalGeneration`` on 5 s windows (50 frames/s, so 125 encoder positions): half
single clips without timestamps, half long-form windows of clips and pauses with timestamps,
with noise at 10-30 dB SNR and a random gain drawn afresh each epoch; score the word error rate
of ``mmgen.generate`` on held-out utterances spoken by held-out voices, and of long-form
transcription on long held-out recordings; save model and processor (``AutoProcessor`` loads a
``WhisperProcessor``) and the model card.
Reproducible bit for bit from ``--seed`` at a given ``--threads`` on one kind of processor (float
sums differ across thread counts and CPU kernels).
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import WhisperForConditionalGeneration, WhisperProcessor
from transformers.modeling_outputs import BaseModelOutput

from mmgen.demo.data import speech
from mmgen.demo.training.asr_data import example, held_out_set, labels, spoken
from mmgen.demo.training.asr_model import (
    BPE_VOCAB,
    SPECIALS,
    TIME_PRECISION,
    TIMESTAMPS,
    WINDOW_SECONDS,
    build_model,
    build_processor,
    build_tokenizer,
)
from mmgen.demo.training.loop import cpu_time, fit
from mmgen.demo.training.speech_scoring import features, long_form_scores, long_recordings, transcribe, word_error_rate


def train(model: WhisperForConditionalGeneration, processor: WhisperProcessor, texts: list[str], audio: list[np.ndarray],
          steps: int, batch_size: int, seed: int, lr: float, ctc_weight: float, timestamped: float) -> None:
    """Cross-entropy of the decoder plus ``ctc_weight`` x a CTC loss on the encoder's output; a
    ``timestamped`` share of the rows are long-form windows with timestamps (`example`).

    The CTC head (a linear layer to the text tokens and a blank) only exists during training: it
    makes the encoder learn to find words in the audio from the first steps, where the decoder
    alone first learns the grammar as a language model and ignores the audio for hundreds of
    steps (hybrid CTC/attention training, Watanabe et al. 2017, "Hybrid CTC/Attention Architecture
    for End-to-End Speech Recognition").
    """
    tokenizer = processor.tokenizer
    window = processor.feature_extractor.n_samples
    targets = [labels(tokenizer, [t])[0].tolist() for t in texts]
    blank = len(tokenizer)
    ctc_head = torch.nn.Linear(model.config.d_model, blank + 1)
    rng = np.random.default_rng(seed + 3)
    order: list[int] = []

    def loss_at(step: int) -> torch.Tensor:
        nonlocal order
        if len(order) < batch_size:
            order += rng.permutation(len(texts)).tolist()
        batch, order = order[:batch_size], order[batch_size:]
        noisy = 0.9 * min(1.0, step / (0.3 * steps))  # curriculum: clean speech first, then 90% of clips noisy
        samples, rows, words = zip(*(example(tokenizer, texts, audio, targets, i, rng, window, noisy, timestamped)
                                     for i in batch))
        inputs = features(processor, samples)
        width = max(len(r) for r in rows)
        y = torch.tensor([r + [-100] * (width - len(r)) for r in rows])
        hidden = model.model.encoder(inputs).last_hidden_state
        loss = model(encoder_outputs=BaseModelOutput(last_hidden_state=hidden), labels=y).loss
        kept = [k for k, w in enumerate(words) if w is not None]
        if ctc_weight and kept:
            log_probs = ctc_head(hidden[kept]).log_softmax(-1).transpose(0, 1)  # (positions, rows, tokens + blank)
            ctc = F.ctc_loss(log_probs, torch.tensor([t for k in kept for t in words[k]], dtype=torch.long),
                             torch.full((len(kept),), hidden.shape[1]), torch.tensor([len(words[k]) for k in kept]),
                             blank=blank, zero_infinity=True)
            loss = loss + ctc_weight * ctc
        return loss

    fit(model, loss_at, steps=steps, lr=lr, warmup=100, log_every=50,
        parameters=[*model.parameters(), *ctc_head.parameters()])


# -- model card ------------------------------------------------------------------------------------



def model_card(args: argparse.Namespace, parameters: int, vocabulary: int, minutes: float, cpu_minutes: float,
               wer: float, long_form: tuple[float, float, float]) -> str:
    return f"""# demo/asr: synthetic English speech -> text (tiny Whisper)

A toy speech recognizer shipped with mmgen for examples and tests. It knows one small spoken
grammar, heard from espeak-ng; real speech or other words come out as nonsense. It predicts
Whisper's timestamps, so long recordings go through Whisper's long-form decoding and come out as
timed segments (`mmgen transcribe --model demo/asr talk.wav --format srt`).

    from transformers import AutoProcessor, WhisperForConditionalGeneration
    import soundfile as sf
    import mmgen
    from mmgen.demo import demo_path
    processor = AutoProcessor.from_pretrained(demo_path("demo/asr"))
    model = WhisperForConditionalGeneration.from_pretrained(demo_path("demo/asr"))
    audio, rate = sf.read("mmgen/demo/samples/command.wav")   # 16 kHz
    inputs = processor(audio, sampling_rate=rate, return_tensors="pt")
    mmgen.generate(model, tokenizer=processor.tokenizer, **inputs).texts

## Model
- `WhisperForConditionalGeneration`: d_model {args.d_model}, 2 encoder + 2 decoder layers, 4 heads, FFN
  {args.ffn}, tied embeddings, {parameters:,} parameters, float32 safetensors.
- Input: `WhisperFeatureExtractor` with 80 mel bins, n_fft 400, **hop 320 (20 ms, 50 frames/s)** and a
  **{WINDOW_SECONDS} s window** (`chunk_length={WINDOW_SECONDS}`, 250 frames; `max_source_positions` 125). Longer
  audio goes through long-form decoding (`mmgen.tasks.speech_recognition.transcribe`).
- Tokenizer: `WhisperTokenizer`, a byte-level BPE trained on the transcripts ({BPE_VOCAB} pieces), then
  Whisper's special tokens ({", ".join(SPECIALS)}), then {TIMESTAMPS} timestamp tokens `<|0.00|>` ...
  `<|{WINDOW_SECONDS:.2f}|>` one encoder position ({TIME_PRECISION:.2f} s) apart: {vocabulary} ids. The decoder prompt is
  `<|startoftranscript|><|en|><|transcribe|>`, then `<|notimestamps|>` or the first timestamp;
  `generation_config` has `is_multilingual=True` with one language (`lang_to_id`), so detection always
  says English, `return_timestamps=False` (plain `generate` calls give text only), and the four heads of
  the last decoder layer as `alignment_heads` (untuned: word timestamps are rough).

## Data (`mmgen.demo.data.speech`, spoken by espeak-ng)
- Utterances: digit strings ("four one seven"), numbers 0-999 ("three hundred and twelve",
  "forty-one"), commands ("turn on the light in the kitchen", "set a timer for five minutes",
  "set the temperature to seventy degrees", "play track twelve", "what is the weather today", ...).
- Voices: espeak-ng {", ".join(speech.LANGUAGES)} with variants
  {", ".join(v for v in speech.VARIANTS if v)} (or none); training voices use even speeds 130-200 wpm and
  even pitches 30-70 and three (language, variant) pairs in four; held-out voices use odd speeds
  and pitches and the other pairs.
- Rows, drawn afresh each epoch: {1 - args.timestamped:.0%} one clip with an onset up to 0.3 s and no timestamps;
  {args.timestamped:.0%} long-form windows with timestamps: clips one after the other from 0-1.5 s in, with
  0.25-1.5 s pauses, the first that does not fit cut at the window's end (its label is its start
  timestamp alone, Whisper's convention), and one window in 25 only noise.
- Augmentation: gain 0.3-1.5, white or low-passed noise at 10-30 dB SNR (90% of rows).
- {args.vocoded:.0%} of clips are espeak audio passed through SpeechT5's mel features and mmgen's Griffin-Lim
  vocoder (half with the mel blurred in time), so `demo/tts` output is in-domain.
- Held out of training: every number in `grammar.HELD_OUT_NUMBERS` and one sentence in eight of the
  rest (by a hash of the text).

## Training
{args.clips} clips, {args.steps} steps of {args.batch_size} (AdamW, peak lr {args.lr}, warm-up then cosine, dropout
{args.dropout}); loss: the decoder's cross-entropy plus {args.ctc_weight} x CTC on the encoder output through a linear
head used only in training (it gets the encoder listening within a few hundred steps); the two
convolutions He-initialized (transformers' N(0, 0.02) leaves them ~30x below the sinusoidal positions);
noise comes in over the first 30% of steps (clean speech first). Half the label rows use the
prompt without `<|transcribe|>` (what `generate` builds when no language is given), half with it
(`language="en"`). Seed {args.seed}, {args.threads} CPU thread(s): {minutes:.1f} min wall-clock on a shared 2-core
machine, synthesis included ({cpu_minutes:.1f} min of CPU time in this process and espeak-ng).

## Quality
- Greedy word error rate with `mmgen.generate` on {args.eval_size} held-out utterances in held-out voices with
  noise at 10-30 dB SNR: **{wer:.1%}**. `tests/demo/test_asr_demo_quality.py` re-measures it on other
  held-out speech (gate: 10%).
- Long form: {args.long_size} held-out recordings of 3-6 utterances in one held-out voice each, 0.5-1.5 s pauses,
  noise at 15-30 dB SNR, through `mmgen.tasks.speech_recognition.transcribe`: word error rate
  **{long_form[0]:.1%}**; one segment per utterance in {long_form[1]:.0%} of the recordings, whose segments start
  {long_form[2]:.2f} s from the utterance's start on average.

## Reproduce
    python -m mmgen.demo.training.train_asr --out mmgen/demo/models/asr --seed {args.seed} --threads {args.threads}
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("mmgen/demo/models/asr"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clips", type=int, default=3000)
    parser.add_argument("--vocoded", type=float, default=0.25)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--ctc-weight", type=float, default=0.5)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--ffn", type=int, default=512)
    parser.add_argument("--dropout", type=float, default=0.0)
    # Both cores of a 2-core machine (asr 1.8x, caption 1.5x, tts 1.2x faster than one); give 1 when other
    # jobs share the cores, where two threads spin at every barrier (10x slower).
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timestamped", type=float, default=0.5, help="share of long-form rows with timestamps")
    parser.add_argument("--eval-size", type=int, default=300)
    parser.add_argument("--long-size", type=int, default=40, help="long recordings for the long-form evaluation")
    parser.add_argument("--samples", type=Path, default=None,
                        help="also (re)write the espeak-ng sample clips here (mmgen/demo/samples)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    speech.espeak_path()
    started = time.perf_counter()

    texts, audio, _ = spoken(args.clips, args.seed, vocoded_share=args.vocoded)
    print(f"synthesized {len(audio)} clips: {time.perf_counter() - started:.0f}s", flush=True)
    tokenizer = build_tokenizer(speech.utterances(20000, seed=args.seed + 10), args.out)
    processor = build_processor(tokenizer)
    model = build_model(tokenizer, processor, args.seed, args.d_model, args.ffn, args.dropout)
    print(f"parameters: {sum(p.numel() for p in model.parameters()):,}  vocabulary: {len(tokenizer)}")
    train(model, processor, texts, audio, args.steps, args.batch_size, args.seed, args.lr, args.ctc_weight,
          args.timestamped)
    minutes = (time.perf_counter() - started) / 60
    cpu_minutes = cpu_time() / 60
    model.save_pretrained(args.out)
    processor.save_pretrained(args.out)
    held_texts, held_audio = held_out_set(args.eval_size, args.seed + 1000, processor.feature_extractor.n_samples)
    wer = word_error_rate(transcribe(model, processor, held_audio), held_texts)
    long_form = long_form_scores(model, processor, long_recordings(args.long_size, args.seed + 2000))
    parameters = sum(p.numel() for p in model.parameters())
    (args.out / "README.md").write_text(model_card(args, parameters, len(tokenizer), minutes, cpu_minutes, wer,
                                                           long_form), encoding="utf-8")
    if args.samples is not None:
        speech.write_samples(args.samples)
    print(f"training time: {minutes:.1f} min wall-clock, {cpu_minutes:.1f} min CPU")
    print(f"held-out word error rate: {wer:.4f} ({args.eval_size} utterances, held-out voices, 10-30 dB SNR)")
    print("long-form: word error rate {:.4f}, one segment per utterance in {:.0%} of recordings, start error "
          "{:.3f} s ({} recordings)".format(*long_form, args.long_size))


if __name__ == "__main__":
    main()
