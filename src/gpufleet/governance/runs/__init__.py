"""Queued what-if runs: the queue, each entity's budget and the fair order of the worker."""
