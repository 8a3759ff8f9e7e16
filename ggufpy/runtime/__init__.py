"""The runtime: model config, the native model (model.py over ops.py), the numpy reference forward pass,
perplexity, tokenizers."""
