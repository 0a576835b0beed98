"""The Ray executor: render on a Ray cluster, or on a private Ray instance on this machine.

CPU backends (Blender) run as Ray tasks asking `num_cpus` and `memory`; each Ray worker process
keeps its backend across tasks (`hold_task`). A recipe that asks for GPUs runs in a pool of
actors, each holding one backend on its share of a GPU; so does a Blender recipe that renders on
a GPU (`render.device: gpu`), one GPU per actor unless `num_gpus` says otherwise. Tasks in flight are bounded
(back-pressure); a worker or actor killed mid-image is retried up to `max_retries` times; an
image that fails every try is reported with its error. Ray is imported in this module only.
"""

from __future__ import annotations

import itertools
import os
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from synthgen.cluster import connected
from synthgen.errors import ExecutorError
from synthgen.render.backends import needs_gpu
from synthgen.render.executors import TaskOutcome, attempt, hold_task
from synthgen.render.run_folder import RunOutput

if TYPE_CHECKING:
    from synthgen.recipe import Recipe
    from synthgen.render.run import RenderTask

GPU_ACTOR_CPUS = 0.25  # a GPU actor mostly waits on its GPU; a whole CPU each starves small nodes
IN_FLIGHT_PER_SLOT = 2  # one running + one queued per slot: busy workers, bounded object store use


@dataclass(frozen=True)
class RayOptions:
    """How to run on Ray. A resource left None comes from the recipe's `resources`, else a default."""

    address: str | None = None  # None: a private local instance; "auto" or HOST:PORT joins a cluster
    num_cpus: float | None = None  # per image task (or per GPU actor)
    memory: int | None = None  # bytes, per image task (or per GPU actor)
    num_gpus: float | None = None  # per actor; > 0 selects the actor pool
    gpu_actors: int | None = None  # default: the cluster's GPUs / num_gpus
    max_retries: int = 3  # tries after a worker or actor dies mid-image
    max_in_flight: int | None = None  # default: IN_FLIGHT_PER_SLOT per task slot or actor
    ray_logs: bool = False  # Ray's own INFO/WARNING lines on stderr (else only its errors: the progress bar stays readable)

    def for_recipe(self, recipe: Recipe) -> RayOptions:
        """These options with every resource decided: flag, then recipe, then default."""
        wanted = recipe.resources
        num_gpus = _first(self.num_gpus, wanted.num_gpus, 1.0 if needs_gpu(recipe) else 0.0)
        num_cpus = _first(self.num_cpus, wanted.num_cpus, GPU_ACTOR_CPUS if num_gpus else 1.0)
        return replace(self, num_cpus=num_cpus, num_gpus=num_gpus, memory=_first(self.memory, wanted.memory))

    @property
    def threads(self) -> int:
        """Render threads per image: the whole CPUs it asks for (at least one)."""
        return max(1, int(self.num_cpus or 1))


class RayExecutor:
    """Runs a RenderTask on Ray over the given indices; `placement` counts images per (node id, pid)."""

    def __init__(self, options: RayOptions):
        if options.num_cpus is None or options.num_gpus is None:
            raise ValueError("RayExecutor needs resolved options: RayOptions.for_recipe(recipe)")
        self.options = options
        self.placement: Counter[tuple[str, int]] = Counter()

    @property
    def images_per_node(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for (node, _pid), images in self.placement.items():
            counts[node] += images
        return dict(counts)

    def run(self, task: RenderTask, indices: list[int]) -> Iterator[TaskOutcome]:
        """Yield one outcome per index, in completion order."""
        if not indices:
            return
        with connected(self.options.address, self.options.ray_logs) as ray:
            task_ref = ray.put(task)
            if self.options.num_gpus:
                submitter: _TaskSubmitter | _ActorPool = _ActorPool(ray, task_ref, self.options)
            else:
                submitter = _TaskSubmitter(ray, task_ref, self.options)
            try:
                yield from self._stream(ray, submitter, indices)
            finally:
                submitter.close()

    def _stream(self, ray: Any, submitter: _TaskSubmitter | _ActorPool, indices: list[int]) -> Iterator[TaskOutcome]:
        limit = self.options.max_in_flight or IN_FLIGHT_PER_SLOT * submitter.slots
        pending: dict[Any, int] = {}
        queue = iter(indices)
        try:
            while True:
                for index in itertools.islice(queue, limit - len(pending)):
                    pending[submitter.submit(index)] = index
                if not pending:
                    return
                [ref], _ = ray.wait(list(pending), num_returns=1)
                index = pending.pop(ref)
                submitter.done(ref)
                try:
                    outcome, node, pid = ray.get(ref)
                    self.placement[(node, pid)] += 1
                except ray.exceptions.RayError as error:
                    outcome = index, None, _describe(error, self.options.max_retries)
                yield outcome
        finally:
            if pending and ray.is_initialized():
                for ref in pending:
                    ray.cancel(ref)


def render_on_worker(task: RenderTask, index: int) -> tuple[TaskOutcome, str, int]:
    """Render one image in a Ray worker or actor; also say where it ran (node id, pid)."""
    import ray

    if not RunOutput(task.root).lock.exists():
        where = f"{socket.gethostname()} (Ray node {ray.get_runtime_context().get_node_id()[:8]})"
        outcome: TaskOutcome = (index, None, f"output folder {task.root} is not visible on {where}: use a path every node mounts")
    else:
        outcome = attempt(hold_task(task), index)
    return outcome, ray.get_runtime_context().get_node_id(), os.getpid()


class BackendActor:
    """A Ray actor holding one task, and so one backend (a model on its GPU), for every image it gets."""

    def __init__(self, task: RenderTask):
        self.task = task

    def render(self, index: int) -> tuple[TaskOutcome, str, int]:
        return render_on_worker(self.task, index)


class _TaskSubmitter:
    """One Ray task per image, retried by Ray when its worker process dies."""

    def __init__(self, ray: Any, task_ref: Any, options: RayOptions):
        self.task_ref = task_ref
        self.remote = ray.remote(render_on_worker).options(
            max_retries=options.max_retries, **_resources(options, num_gpus=False)
        )
        self.slots = max(1, int(ray.cluster_resources().get("CPU", 0) / options.num_cpus))

    def submit(self, index: int) -> Any:
        return self.remote.remote(self.task_ref, index)

    def done(self, ref: Any) -> None:
        """Nothing to release: Ray frees the task's resources."""

    def close(self) -> None:
        """Nothing to stop: idle task workers belong to Ray."""


class _ActorPool:
    """`gpu_actors` BackendActors; each image goes to the actor with the fewest images in flight.

    An actor killed mid-image restarts (without limit) and retries that image up to
    `max_retries` times, so one bad image cannot take the pool down.
    """

    def __init__(self, ray: Any, task_ref: Any, options: RayOptions):
        self.ray = ray
        count = options.gpu_actors or int(ray.cluster_resources().get("GPU", 0) / options.num_gpus + 1e-9)
        if count < 1:
            raise ExecutorError(
                f"the recipe asks for {options.num_gpus:g} GPU per actor but the Ray cluster has "
                f"{ray.cluster_resources().get('GPU', 0):g} GPUs; pass --gpu-actors N to wait for GPU nodes"
            )
        actor_class = ray.remote(BackendActor).options(
            max_restarts=-1, max_task_retries=options.max_retries, **_resources(options, num_gpus=True)
        )
        self.load = {actor_class.remote(task_ref): 0 for _ in range(count)}
        self.owner: dict[Any, Any] = {}
        self.slots = count

    def submit(self, index: int) -> Any:
        actor = min(self.load, key=self.load.__getitem__)
        ref = actor.render.remote(index)
        self.load[actor] += 1
        self.owner[ref] = actor
        return ref

    def done(self, ref: Any) -> None:
        self.load[self.owner.pop(ref)] -= 1

    def close(self) -> None:
        for actor in self.load:
            self.ray.kill(actor)


def _resources(options: RayOptions, num_gpus: bool) -> dict[str, Any]:
    resources: dict[str, Any] = {"num_cpus": options.num_cpus}
    if num_gpus:
        resources["num_gpus"] = options.num_gpus
    if options.memory:
        resources["memory"] = options.memory
    return resources


def _describe(error: Exception, max_retries: int) -> str:
    lines = str(error).strip().splitlines() or [""]
    return f"{type(error).__name__}: {lines[0]} (gave up after {max_retries} retries)"


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)
