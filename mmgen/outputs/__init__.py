"""The output side: what the decode core's frames become, beyond the core's own token adapter.

- `stop_strings`: batched stop-string matching over byte-level token text;
- `text_stream`: text deltas from a token stream, never splitting a character;
- `spectrogram`: the continuous adapter (per-step hooks), SpeechT5's stopping rule, the frame buffer;
- `vocoders`: mel spectrogram -> waveform (HiFi-GAN, Griffin-Lim);
- `audio_stream`: waveform chunks while synthesis runs, with overlap so they join exactly;
- `audio_files`: writing and reading waveforms (WAV, FLAC, ...);
- `codebooks`: K codebook tokens per frame (delay pattern, classifier-free guidance).
The frames themselves are the decode core's (`mmgen.core.frames`).
"""
