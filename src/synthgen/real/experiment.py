"""Does the synthetic data help? Train the same detector on several training sets (arms) and
measure each on the same real test set, per class, with confidence intervals.

An arm is `real` (the real training set), `real+NAME` (real plus the synthetic set NAME at the
synthetic share of training images, rarest classes first, as `mix` chooses) or `NAME` (that
synthetic set alone). Every arm trains with the same architecture, image size, optimiser steps and
seeds. Each finished (arm, seed) is one file, `OUT/runs/ARM/seed-N/run.json` (the test predictions
and the training curve), so a killed experiment resumes and more seeds add only the new runs.
Runs train in local processes here, or on Ray (`experiment_ray`). The statistics are in
`experiment_stats`, the page in `experiment_report`.
"""

from __future__ import annotations

import multiprocessing
import os
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from synthgen.errors import InputError
from synthgen.fileio import atomic_write_json, read_json
from synthgen.formats.sources import open_dataset
from synthgen.mix.assemble import Item
from synthgen.mix.mix import choose_synthetic, gather, pixel_digest, synthetic_limit
from synthgen.real.train import DEFAULT_ARCH, Fit, TrainItem

REAL = "real"
RESULTS = "results.json"
LOCK = "experiment.json"
RUN = "run.json"
EVAL_SCORE = 0.001  # the lowest detection score kept for AP (COCO practice; torchvision's default 0.05 is for display)
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]+")


class ExperimentError(InputError):
    """Bad experiment options or inputs; the message names the option or file."""


@dataclass
class Setup:
    """Everything that defines an experiment (what `OUT/experiment.json` locks), and the seeds."""

    real: str
    test: str
    synthetic: dict[str, str]
    arms: list[str]
    synthetic_share: float = 0.5
    arch: str = DEFAULT_ARCH
    steps: int = 2000
    seeds: int = 3
    image_size: int | None = None
    batch_size: int = 4
    lr: float = 0.01
    device: str | None = None

    def validate(self) -> None:
        if not 0 <= self.synthetic_share <= 1:
            raise ExperimentError(f"--synthetic-share: expected a number in [0, 1] (got {self.synthetic_share})")
        for flag, value in (("--steps", self.steps), ("--seeds", self.seeds)):
            if value < 1:
                raise ExperimentError(f"{flag}: expected a whole number >= 1 (got {value})")
        Fit(self.arch, self.batch_size, self.lr, self.image_size, self.device)  # refuses a bad batch size, lr or size
        if REAL not in self.arms:
            raise ExperimentError(f"--arms: expected {REAL!r} among the arms, deltas are against it (got {','.join(self.arms)})")
        for arm in self.arms:
            arm_sources(arm, self.synthetic)

    def locked(self) -> dict[str, Any]:
        """The fields a rerun must keep (seeds may grow)."""
        return {k: v for k, v in asdict(self).items() if k != "seeds"}


def parse_synthetic(pairs: list[str]) -> dict[str, str]:
    """`["blender=out/synth", ...]` -> {"blender": "out/synth"}."""
    named: dict[str, str] = {}
    for pair in pairs:
        name, sep, folder = pair.partition("=")
        if not sep or not NAME_PATTERN.fullmatch(name) or name == REAL or not folder:
            raise ExperimentError(f"--synthetic: expected NAME=DIR with NAME of letters, digits, _ or - and not {REAL!r} (got {pair!r})")
        if name in named:
            raise ExperimentError(f"--synthetic: expected each NAME once (got {name!r} twice)")
        named[name] = folder
    return named


def parse_arms(text: str) -> list[str]:
    arms = list(dict.fromkeys(a.strip() for a in text.split(",") if a.strip()))
    if not arms:
        raise ExperimentError(f"--arms: expected a comma-separated list such as real,real+NAME,NAME (got {text!r})")
    return arms


def arm_sources(arm: str, synthetic: dict[str, str]) -> tuple[bool, str | None]:
    """(uses the real set, synthetic set name or None) of `real`, `real+NAME` or `NAME`."""
    if arm == REAL:
        return True, None
    name = arm.removeprefix(f"{REAL}+")
    if name not in synthetic:
        known = ", ".join(synthetic) or "none given"
        raise ExperimentError(f"--arms: expected real, real+NAME or NAME with NAME a --synthetic set ({known}) (got {arm!r})")
    return arm != name, name


@dataclass
class Data:
    """The experiment's images: the real train and test items, each synthetic pool, the classes."""

    real: list[Item]
    test: list[Item]
    synthetic: dict[str, list[Item]]
    classes: list[str]
    arms: dict[str, list[Item]] = field(default_factory=dict)


def load_data(setup: Setup) -> Data:
    """Read every input, merge classes by name, refuse an unfit test set and build each arm."""
    names = [REAL, *setup.synthetic, "test"]
    opened = [open_dataset(spec) for spec in (setup.real, *setup.synthetic.values(), setup.test)]
    items, classes = gather(opened, {}, None)  # in input order
    by_input, start_at = {}, 0
    for name, one in zip(names, opened):
        by_input[name], start_at = items[start_at : start_at + len(one.dataset.samples)], start_at + len(one.dataset.samples)
    real = [i for i in by_input[REAL] if i.sample.provenance.source != "prelabel"]  # unreviewed guesses are not ground truth
    refuse_synthetic(setup.real, "--real", by_input[REAL])
    refuse_synthetic(setup.test, "--test", by_input["test"])
    if not any(item.sample.instances for item in by_input["test"]):
        raise ExperimentError(f"{setup.test}: annotations: expected labelled instances to measure AP on (got none)")
    data = Data(real, by_input["test"], {name: by_input[name] for name in setup.synthetic}, classes)
    refuse_overlap(setup.test, data.test, [i for pool in (data.real, *data.synthetic.values()) for i in pool])
    for arm in setup.arms:
        data.arms[arm] = arm_items(arm, data, setup)
        if not data.arms[arm]:
            raise ExperimentError(f"--arms: {arm}: expected training images (got none)")
    return data


def refuse_synthetic(spec: str, flag: str, items: list[Item]) -> None:
    for position, item in enumerate(items):
        if item.kind == "synthetic":
            raise ExperimentError(
                f"{spec}: images[{position}].provenance.source: expected a real image in {flag} (got {item.sample.provenance.source!r})"
            )


def refuse_overlap(spec: str, test: list[Item], training: list[Item]) -> None:
    """No test image may have the pixels of a training image (any arm)."""
    seen = {pixel_digest(item.image_path): item for item in training}
    for position, item in enumerate(test):
        twin = seen.get(pixel_digest(item.image_path))
        if twin is not None:
            raise ExperimentError(
                f"{spec}: images[{position}].file_name: expected an image no training set holds "
                f"(got {item.sample.file_name!r}, the same pixels as {twin.input_spec}: {twin.sample.file_name})"
            )


def arm_items(arm: str, data: Data, setup: Setup) -> list[Item]:
    """The training set of one arm; synthetic images go to the rarest classes first (mix's quotas, no ceiling)."""
    with_real, name = arm_sources(arm, setup.synthetic)
    if name is None:
        return data.real
    pool = data.synthetic[name]
    if not with_real:
        return pool
    counts = Counter()
    for item in data.real:
        counts.update(item.classes)
    no_ceiling = sum(counts.values()) + sum(sum(i.classes.values()) for i in pool) + 1
    limit = synthetic_limit(len(data.real), setup.synthetic_share, len(pool))
    chosen, _ = choose_synthetic(pool, counts, data.classes, no_ceiling, limit, np.random.default_rng(0))
    return data.real + chosen


@dataclass
class Job:
    """One (arm, seed) to train and predict; picklable for a worker process."""

    arm: str
    seed: int
    items: list[TrainItem]
    test: list[TrainItem]
    classes: list[str]
    how: Fit
    steps: int
    out: Path


def run_path(out: Path, arm: str, seed: int) -> Path:
    return Path(out) / "runs" / arm / f"seed-{seed}" / RUN


def train_run(job: Job) -> dict[str, Any]:
    """Train, predict the test images; the run record (what `run.json` holds)."""
    from synthgen.real.train import train_steps

    model, losses = train_steps(job.items, job.classes, job.steps, job.how)
    return {
        "arm": job.arm, "seed": job.seed, "steps": job.steps, "images": len(job.items), "losses": losses,
        "predictions": predict(model, job.test, job.classes, job.how),
    }  # fmt: skip


def keep_run(job: Job, record: dict[str, Any]) -> str:
    """Write the run record (atomically: a killed experiment keeps whole runs only); returns the arm and seed."""
    atomic_write_json(run_path(job.out, job.arm, job.seed), record, indent=None)
    return f"{job.arm} seed {job.seed}"


def run_job(job: Job) -> str:
    """Train one (arm, seed) and keep its record."""
    return keep_run(job, train_run(job))


def predict(model, test: list[TrainItem], classes: list[str], how: Fit) -> list[dict[str, Any]]:
    """Detections on the test images: image index, class name, COCO box, score."""
    import torch

    from synthgen.real.datasets import read_image_tensor
    from synthgen.real.prelabel.base import pick_device

    device = pick_device(how.device)
    model.to(device).eval()
    for part in (model, getattr(model, "roi_heads", None)):  # keep low scores: AP ranks every detection
        if hasattr(part, "score_thresh"):
            part.score_thresh = EVAL_SCORE
    found = []
    with torch.inference_mode():
        for start_at in range(0, len(test), how.batch_size):
            batch = test[start_at : start_at + how.batch_size]
            outputs = model([read_image_tensor(item.image).to(device) for item in batch])
            for offset, output in enumerate(outputs):
                for box, label, score in zip(output["boxes"].tolist(), output["labels"].tolist(), output["scores"].tolist()):
                    x0, y0, x1, y1 = box
                    found.append({"image": start_at + offset, "class": classes[label - 1], "bbox": [x0, y0, x1 - x0, y1 - y0], "score": score})
    return found


def check_lock(out: Path, setup: Setup) -> None:
    """A folder holds one experiment: a rerun may add seeds, nothing else may change."""
    lock = Path(out) / LOCK
    if not lock.is_file():
        atomic_write_json(lock, setup.locked())
        return
    before = read_json(lock)
    for key, value in setup.locked().items():
        if before.get(key) != value:
            raise ExperimentError(f"{lock}: {key}: expected the setup of the runs already there, {before.get(key)!r} (got {value!r}); use another -o")


def pending_jobs(setup: Setup, data: Data, out: Path) -> list[Job]:
    """The (arm, seed) runs not yet finished in `out`."""
    test = [TrainItem(i.image_path, i.sample) for i in data.test]
    how = Fit(setup.arch, setup.batch_size, setup.lr, setup.image_size, setup.device, show_progress=False)
    jobs = []
    for seed in range(setup.seeds):
        for arm in setup.arms:
            if not run_path(out, arm, seed).is_file():
                items = [TrainItem(i.image_path, i.sample) for i in data.arms[arm]]
                jobs.append(Job(arm, seed, items, test, data.classes, replace(how, seed=seed), setup.steps, Path(out)))
    return jobs


def worker_count(setup: Setup, workers: int, jobs: int) -> int:
    """`workers`, or one per CUDA device on CUDA, else one per 4 CPU cores; never more than the jobs."""
    if workers < 1:
        if setup.device == "cuda":
            import torch

            workers = torch.cuda.device_count()
        else:
            workers = (os.cpu_count() or 1) // 4
    return max(1, min(workers, jobs))


_worker_device: str | None = None  # in a worker process: the GPU it was given


def _start_worker(threads: int, devices) -> None:
    """Pool initializer: a fixed thread count (so a resumed run computes the same numbers), one GPU each."""
    import torch

    global _worker_device
    torch.set_num_threads(threads)
    if devices is not None:
        _worker_device = devices.get()


def _run_in_worker(job: Job) -> str:
    return run_job(replace(job, how=replace(job.how, device=_worker_device)) if _worker_device else job)


def run_jobs(jobs: list[Job], workers: int, threads: int, on_done) -> None:
    """Run the jobs in `workers` local processes (in this process when 1), each with `threads` CPU
    threads (0: the cores shared out), calling `on_done` as each finishes."""
    threads = threads if threads > 0 else max(1, (os.cpu_count() or 1) // workers)
    if workers == 1:
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            for job in jobs:
                on_done(run_job(job))
        finally:
            torch.set_num_threads(before)
        return
    context = multiprocessing.get_context("spawn")
    devices = None
    device = jobs[0].how.device or ""
    if device == "cuda":
        devices = context.Queue()
        for number in range(workers):
            devices.put(f"cuda:{number}")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(threads, devices)) as pool:
        for done in pool.map(_run_in_worker, jobs):
            on_done(done)


def run_experiment(setup: Setup, out: Path, workers: int = 0, threads: int = 0, on_done=lambda text: None, runner=None) -> dict[str, Any]:
    """Train what is missing, then write `results.json` and `report.html`; returns the results.

    The runs train in `workers` local processes, or through `runner(jobs, threads, on_done)` when
    given (`experiment_ray.run_jobs_on_ray`: on Ray); either keeps each run as it finishes."""
    from synthgen.real.experiment_report import write_experiment_report
    from synthgen.real.experiment_stats import summarise
    from synthgen.real.prelabel.base import pick_device

    setup.validate()
    setup.device = pick_device(setup.device)
    data = load_data(setup)
    check_lock(out, setup)
    jobs = pending_jobs(setup, data, out)
    if jobs and runner is not None:
        runner(jobs, threads, on_done)
    elif jobs:
        run_jobs(jobs, worker_count(setup, workers, len(jobs)), threads, on_done)
    records = {arm: [read_run(out, arm, seed) for seed in range(setup.seeds)] for arm in setup.arms}
    results, per_image = summarise(records, data.test, data.classes, setup_summary(setup, data))
    atomic_write_json(Path(out) / RESULTS, results)
    write_experiment_report(Path(out), results, records, data.test, per_image)
    return results


def read_run(out: Path, arm: str, seed: int) -> dict[str, Any]:
    return read_json(run_path(out, arm, seed))


def setup_summary(setup: Setup, data: Data) -> dict[str, Any]:
    """What `results.json` records of the setup: the options, the classes and each arm's images."""
    arms = {
        arm: {"images": len(items), "synthetic_images": sum(i.kind == "synthetic" for i in items)}
        for arm, items in data.arms.items()
    }
    return {**asdict(setup), "seeds": list(range(setup.seeds)), "classes": data.classes, "test_images": len(data.test), "arm_images": arms}
