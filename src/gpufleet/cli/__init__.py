"""The command line: ``gpufleet`` and its command groups, the outermost ring with the service.

:mod:`gpufleet.cli.main` holds the root parser, dispatch and the mapping of errors to exit
codes; :mod:`gpufleet.cli.common` what the groups share (progress, writing files whole);
:mod:`gpufleet.cli.store` the store the ``db``, ``admin``, ``audit`` and ``serve`` groups
open; one module per command group (``demo``, ``simulate``, ``validate``, ``policies``,
``trace``, ``whatif``, ``sweep``, ``export``, ``explain``, ``db``, ``admin``, ``audit``,
``serve``). No group imports :mod:`gpufleet.cli.main`."""

from gpufleet.cli.main import main

__all__ = ["main"]
