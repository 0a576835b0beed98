"""The `experiment` command: does the synthetic data help? Thin: parse, call `real.experiment`, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from synthgen.cli.app import app
from synthgen.cli.errors import fail
from synthgen.cli.help import example
from synthgen.cli.render import ExecutorName


@app.command(**example(
    "synthgen experiment -o exp/rare1 --real out/real --test out/real_test \\",
    "    --synthetic blender=out/synth --arms real,real+blender,blender \\",
    "    --synthetic-share 0.5 --steps 2000 --seeds 3",
))  # fmt: skip
def experiment(
    out: Annotated[Path, typer.Option("-o", "--out", help="Experiment folder (rerun the same command to resume or add seeds).")],
    real: Annotated[str, typer.Option(help="The real training set (reviewed).")],
    test: Annotated[str, typer.Option(help="The real test set: no synthetic image, no image of a training set.")],
    synthetic: Annotated[list[str], typer.Option(help="A synthetic set as NAME=DIR (repeatable).")] = [],  # noqa: B006
    arms: Annotated[str, typer.Option(help="Comma-separated training sets: real, real+NAME, NAME.")] = "real",
    synthetic_share: Annotated[float, typer.Option(help="Synthetic fraction of training images in real+NAME arms.")] = 0.5,
    arch: Annotated[Optional[str], typer.Option(help="torchvision detector; default: fasterrcnn_mobilenet_v3_large_fpn")] = None,
    steps: Annotated[int, typer.Option(help="Optimiser steps per run.")] = 2000,
    seeds: Annotated[int, typer.Option(help="Runs per arm (seeds 0..N-1).")] = 3,
    image_size: Annotated[Optional[int], typer.Option(help="Resize images to this (shorter side).")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per step.")] = 4,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 0.01,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda ... (default: CUDA when present).")] = None,
    workers: Annotated[int, typer.Option(help="Runs at once in local processes (0: one per GPU, or per 4 CPU cores).")] = 0,
    threads: Annotated[int, typer.Option(help="CPU threads per run (0: the cores shared out among the workers; 1 on Ray).")] = 0,
    executor: Annotated[ExecutorName, typer.Option(help="local: processes on this machine; ray: one Ray task per run, one GPU each on CUDA.")] = ExecutorName.local,
    address: Annotated[Optional[str], typer.Option(help="With --executor ray: 'auto' or HOST:PORT joins a running cluster; default: a private Ray instance here.")] = None,
) -> None:
    """Train the same detector on each arm and seed, measure AP per class on the real test set, with intervals."""
    from synthgen.real.experiment import (
        Setup,
        parse_arms,
        parse_synthetic,
        run_experiment,
    )
    from synthgen.real.train import DEFAULT_ARCH

    setup = Setup(
        real=real, test=test, synthetic=parse_synthetic(synthetic), arms=parse_arms(arms), synthetic_share=synthetic_share,
        arch=arch or DEFAULT_ARCH, steps=steps, seeds=seeds, image_size=image_size, batch_size=batch_size, lr=lr, device=device,
    )  # fmt: skip
    runner = _runner(executor, address, workers)
    trained: list[str] = []

    def done(run: str) -> None:
        trained.append(run)
        typer.echo(f"trained: {run}")

    results = run_experiment(setup, out, workers, threads, done, runner)
    typer.echo(f"{out}: {len(trained)} runs trained, {len(setup.arms) * setup.seeds - len(trained)} kept")
    for arm, per_class in results["deltas"].items():
        for name, delta in per_class.items():
            ci = delta["ap"]["ci"]
            spread = f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""
            typer.echo(f"{arm}: {name}: AP {delta['ap']['mean']:+.3f}{spread} vs real: {delta['verdict']}")


def _runner(executor: ExecutorName, address: str | None, workers: int):
    """None (local processes) or the Ray runner; `--workers` is local's, `--address` Ray's."""
    if executor == ExecutorName.local:
        if address is not None:
            fail("--address: only with --executor ray")
        return None
    if workers != 0:
        fail("--workers is for --executor local; on Ray, runs at once follow the cluster's GPUs (on CUDA) or CPUs and --threads")
    from functools import partial

    from synthgen.real.experiment_ray import run_jobs_on_ray

    return partial(run_jobs_on_ray, address=address)
