"""Rasa SDK custom actions. Thin on purpose: the logic lives in the `bot` package."""
