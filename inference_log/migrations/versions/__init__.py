"""Revisions of the inference-log schema, oldest first (``down_revision`` links them)."""
