"""Temporal workflows: pure, deterministic code that decides; nothing here does I/O."""
