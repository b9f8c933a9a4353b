"""The command line: ``gpufleet`` and its command groups, the outermost ring with the service.

:mod:`gpufleet.cli.main` holds the root parser and dispatch; :mod:`gpufleet.cli.main.common` what
every group shares (progress, writing files whole); one module per command group."""

from gpufleet.cli.main import main

__all__ = ["main"]
