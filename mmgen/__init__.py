"""mmgen: one autoregressive decode core for every modality."""
