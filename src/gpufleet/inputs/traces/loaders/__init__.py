"""Loaders of the public traces. Importing this package imports every module in it, and
each module registers its loader by name with ``gpufleet.inputs.traces.registry.register``."""

import importlib
import pkgutil

for _mod in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_mod.name}")
