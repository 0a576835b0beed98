"""The `synthgen` command line: one Typer app (`cli.app`), one error printer (`cli.errors`), and the
commands grouped by room: `cli.render` (validate, render, check), `cli.estimate` (estimate), `cli.mixing` (mix, plan, report,
preview, convert), `cli.export` (export), `cli.real` (prelabel, review, train, eval), `cli.experiment`
(experiment). Commands import their room only when they run, so `synthgen --help` starts fast."""

# Each module adds its commands to the app, in this order in `synthgen --help`.
from synthgen.cli import render  # noqa: F401, I001
from synthgen.cli import estimate, mixing, export, real  # noqa: F401, E402
from synthgen.cli import experiment  # noqa: F401, E402
from synthgen.cli.app import app

__all__ = ["app"]
