"""Cluster state: what exists and what runs where. Never imports policies or the engine."""
