"""troika's shared core: fine-tuning, embeddings, storage, config and web plumbing."""

__version__ = "0.1.0"
