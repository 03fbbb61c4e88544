"""Backends implementing the ``fpeval.engine.Denoiser`` protocol."""
