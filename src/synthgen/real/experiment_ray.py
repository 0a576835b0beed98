"""Arms on Ray: each (arm, seed) still to train is one Ray task, on a private Ray instance here or on
a cluster (`connected`, as `render --executor ray` does).

A task asks for one GPU when the experiment trains on CUDA (Ray shows it that GPU alone) and none
on the CPU, and `threads` CPUs, which are its torch threads. It returns the run record, and this
process keeps it (`keep_run`) as a local run is kept, so resume and more seeds work the same way, with
either executor. The images must be at the same paths on every node (a shared mount), as for rendering.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from synthgen.errors import ExecutorError
from synthgen.real.experiment import Job, keep_run, train_run


def ray_resources(device: str, threads: int) -> dict[str, float]:
    """What one run asks of Ray: `threads` CPUs, and one GPU on CUDA."""
    return {"num_cpus": float(threads), "num_gpus": 1.0 if device.startswith("cuda") else 0.0}


def train_on_worker(job: Job, threads: int) -> dict[str, Any]:
    """A Ray task: train one run with `threads` torch threads (on the GPU Ray gave it, on CUDA)."""
    import torch

    torch.set_num_threads(threads)
    if (job.how.device or "").startswith("cuda"):
        job = replace(job, how=replace(job.how, device="cuda"))  # the one GPU Ray made visible
    return train_run(job)


def run_jobs_on_ray(jobs: list[Job], threads: int, on_done, address: str | None = None, ray_logs: bool = False) -> None:
    """Run the jobs as Ray tasks, as many at once as the cluster's resources allow; keep each run
    as it finishes and call `on_done`. Runs not finished when this stops (an error, Ctrl-C) are cancelled."""
    from synthgen.cluster import connected

    threads = max(1, threads)
    resources = ray_resources(jobs[0].how.device or "cpu", threads)
    with connected(address, ray_logs) as ray:
        if resources["num_gpus"] and not ray.cluster_resources().get("GPU", 0):
            raise ExecutorError(f"--device: expected a Ray cluster with GPUs for {jobs[0].how.device} runs, one GPU each (got 0 GPUs)")
        remote = ray.remote(train_on_worker).options(**resources)
        pending = {remote.remote(job, threads): job for job in jobs}
        try:
            while pending:
                [ref], _ = ray.wait(list(pending), num_returns=1)
                on_done(keep_run(pending.pop(ref), ray.get(ref)))
        finally:
            for ref in pending:
                ray.cancel(ref)
