"""Governed transfers: the rules, the frozen terms, the lifecycle and the assessment."""
