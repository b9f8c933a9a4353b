"""Policies from the research literature: SRTF, Tiresias and Themis."""
