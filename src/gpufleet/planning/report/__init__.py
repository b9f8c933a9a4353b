"""Turning results into text people read: tables and the side-by-side comparison."""
