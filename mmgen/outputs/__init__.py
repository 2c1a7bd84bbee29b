"""Output adapters beyond one token per row, over the shared decode loop.

- `frames`: the typed frames (`SpectrogramStep`, `CodebookStep`) and stream events (`AudioChunk`);
- `spectrogram`: the continuous adapter (per-step hooks), SpeechT5's stopping rule, the frame buffer;
- `vocoders`: mel spectrogram -> waveform (HiFi-GAN, Griffin-Lim);
- `audio_stream`: waveform chunks while synthesis runs, with overlap so they join exactly;
- `codebooks`: K codebook tokens per frame (delay pattern, classifier-free guidance).
"""
