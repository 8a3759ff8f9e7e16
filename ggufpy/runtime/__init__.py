"""The runtime: model config, the numpy reference forward pass, perplexity (the native graph comes later)."""
