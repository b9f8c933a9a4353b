"""Loaders of the public traces; importing this package registers them by name."""
