"""Mix real and synthetic datasets into a training set.

Classes merge by *name* (case and whitespace normalised), never by id. Exact duplicate images
(same pixels) are kept once. Validation (and test) come only from real images, stratified by class
so that rare classes appear there too; synthetic images go to train only, chosen per class until
each class reaches `min_per_class` instances, within `max_synthetic_share` of the train split.
Every choice is deterministic given the seed.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from synthgen.errors import InputError
from synthgen.fileio import LINK_MODES, atomic_write_json, image_size, staged_folder
from synthgen.formats.sources import Opened, open_dataset
from synthgen.labels import normalise_name
from synthgen.layout import MANIFEST
from synthgen.mix.assemble import Item, kind_of, split_summary, write_split
from synthgen.progress import tracked


class MixError(InputError):
    """Bad mixing options or inputs; the message names the option or file."""


@dataclass
class MixOptions:
    min_per_class: int = 0
    max_synthetic_share: float = 1.0
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    seed: int = 0
    formats: tuple[str, ...] = ("coco",)
    link: str = "copy"
    rename: dict[str, str] = field(default_factory=dict)
    keep: list[str] | None = None

    def validate(self) -> None:
        for name, value in (("--val-fraction", self.val_fraction), ("--test-fraction", self.test_fraction)):
            if not 0 <= value < 1:
                raise MixError(f"{name}: must be in [0, 1), got {value}")
        if self.val_fraction + self.test_fraction >= 1:
            raise MixError("--val-fraction + --test-fraction: must leave some real images for train")
        if not 0 <= self.max_synthetic_share <= 1:
            raise MixError(f"--max-synthetic-share: must be in [0, 1], got {self.max_synthetic_share}")
        if self.min_per_class < 0:
            raise MixError(f"--min-per-class: must be >= 0, got {self.min_per_class}")
        if self.link not in LINK_MODES:
            raise MixError(f"--link: must be one of {', '.join(LINK_MODES)}, got {self.link!r}")


@dataclass
class Shortfall:
    have: int
    need: int
    reason: str


@dataclass
class MixPlan:
    class_names: list[str]
    splits: dict[str, list[Item]]
    shortfalls: dict[str, Shortfall]
    duplicates: list[tuple[str, str]]  # (dropped, kept) as "input: file_name"

    def written_splits(self) -> tuple[str, ...]:
        """The splits that hold images (an empty one cannot serve as YOLO `train:` or `val:`)."""
        return tuple(name for name, items in self.splits.items() if items)


def parse_rename(pairs: list[str]) -> dict[str, str]:
    """`["old=new", ...]` -> {normalised old: normalised new}."""
    rename = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise MixError(f"--map: expected 'old=new', got {pair!r}")
        rename[normalise_name(old)] = normalise_name(new)
    return rename


def gather(inputs: list[Opened], rename: dict[str, str], keep: list[str] | None) -> tuple[list[Item], list[str]]:
    """Items with final class names, and the class list (first-seen order, or `keep`'s order)."""
    known = list(dict.fromkeys(normalise_name(c.name) for opened in inputs for c in opened.dataset.categories))
    unknown = [old for old in rename if old not in known]
    if unknown:
        raise MixError(f"--map: unknown class {unknown[0]!r}; known: {', '.join(known)}")
    renamed = list(dict.fromkeys(rename.get(name, name) for name in known))
    if keep is not None:
        wanted = [normalise_name(name) for name in keep]
        missing = [name for name in wanted if name not in renamed]
        if missing:
            raise MixError(f"--classes: unknown class {missing[0]!r}; known: {', '.join(renamed)}")
        renamed = list(dict.fromkeys(wanted))
    kept = set(renamed)
    final_name = {c.name: rename.get(normalise_name(c.name), normalise_name(c.name)) for o in inputs for c in o.dataset.categories}
    items = []
    for opened in inputs:
        for sample in opened.dataset.samples:
            for instance in sample.instances:
                instance.category = final_name[instance.category]
            sample.instances = [i for i in sample.instances if i.category in kept]
            kind = kind_of(sample.provenance)
            items.append(Item(sample, opened.image_path(sample.file_name), opened.spec, kind))
    return items, renamed


def pixel_digest(path: Path) -> str:
    """Hash of the decoded pixels as 8-bit BGR (so the same image saved twice, in any format, is one image)."""
    if not path.is_file():
        raise MixError(f"{path}: image file not found")
    try:
        image_size(path)  # refuses more than fileio.MAX_PIXELS before decoding
    except InputError as error:
        raise MixError(f"{path}: unreadable image: {str(error).removeprefix(f'{path}: ')}") from None
    pixels = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if pixels is None:
        raise MixError(f"{path}: unreadable image")
    return hashlib.blake2b(repr(pixels.shape).encode() + pixels.tobytes(), digest_size=16).hexdigest()


def drop_duplicates(items: list[Item], progress: bool = False) -> tuple[list[Item], list[tuple[str, str]]]:
    """Keep the first of every set of pixel-identical images (inputs in the order given)."""
    first: dict[str, Item] = {}
    kept, duplicates = [], []
    for item in tracked(items, "hashing images", progress):
        digest = pixel_digest(item.image_path)
        if digest in first:
            duplicates.append((_where(item), _where(first[digest])))
        else:
            first[digest] = item
            kept.append(item)
    return kept, duplicates


def _where(item: Item) -> str:
    return f"{item.input_spec}: {item.sample.file_name}"


def stratified_pick(pool: list[Item], fraction: float, rng: np.random.Generator) -> tuple[list[Item], list[Item]]:
    """Pick `fraction` of `pool`, rarest classes first, so every class with two or more images gets one."""
    target = round(fraction * len(pool))
    shuffled = [pool[i] for i in rng.permutation(len(pool))]
    holders = defaultdict(list)
    for position, item in enumerate(shuffled):
        for name in item.classes:
            holders[name].append(position)
    picked: set[int] = set()
    for name in sorted(holders, key=lambda n: (len(holders[n]), n)):
        positions = holders[name]
        want = max(1, round(fraction * len(positions))) if len(positions) >= 2 else 0
        have = sum(p in picked for p in positions)
        for position in positions:
            if have >= want or len(picked) >= target:
                break
            if position not in picked:
                picked.add(position)
                have += 1
    for position in range(len(shuffled)):
        if len(picked) >= target:
            break
        picked.add(position)
    chosen = [shuffled[p] for p in sorted(picked)]
    rest = [item for p, item in enumerate(shuffled) if p not in picked]
    return chosen, rest


def synthetic_limit(real_train: int, share: float, available: int) -> int:
    """Most synthetic images with synthetic / (real + synthetic) <= share."""
    if share >= 1:
        return available
    return min(available, int(share * real_train / (1 - share) + 1e-9))


def choose_synthetic(
    pool: list[Item], counts: Counter, class_names: list[str], min_per_class: int, limit: int, rng: np.random.Generator
) -> tuple[list[Item], dict[str, Shortfall]]:
    """Add synthetic images for the class furthest below `min_per_class` until all reach it or none are left."""
    shuffled = [pool[i] for i in rng.permutation(len(pool))]
    if min_per_class <= 0:
        return shuffled[:limit], {}
    queues = {name: deque(p for p, item in enumerate(shuffled) if item.classes[name]) for name in class_names}
    taken: set[int] = set()
    while len(taken) < limit:
        short = [name for name in class_names if counts[name] < min_per_class and queues[name]]
        if not short:
            break
        name = max(short, key=lambda n: (min_per_class - counts[n], -class_names.index(n)))
        position = queues[name].popleft()
        if position not in taken:
            taken.add(position)
            counts.update(shuffled[position].classes)
    shortfalls = {
        name: Shortfall(counts[name], min_per_class, "synthetic share cap" if queues[name] else "no more synthetic images of it")
        for name in class_names
        if counts[name] < min_per_class
    }
    return [shuffled[p] for p in sorted(taken)], shortfalls


def plan_mix(items: list[Item], class_names: list[str], options: MixOptions) -> MixPlan:
    """Decide the splits (no file is written)."""
    rng = np.random.default_rng(options.seed)
    real = [item for item in items if item.kind != "synthetic"]
    synthetic = [item for item in items if item.kind == "synthetic"]
    splits: dict[str, list[Item]] = {}
    rest = real
    if options.test_fraction > 0:
        splits["test"], rest = stratified_pick(rest, options.test_fraction, rng)
    val_share = options.val_fraction * len(real) / len(rest) if rest else 0.0
    splits["val"], real_train = stratified_pick(rest, min(val_share, 1.0), rng)
    counts = Counter()
    for item in real_train:
        counts.update(item.classes)
    limit = synthetic_limit(len(real_train), options.max_synthetic_share, len(synthetic))
    chosen, shortfalls = choose_synthetic(synthetic, counts, class_names, options.min_per_class, limit, rng)
    splits["train"] = real_train + chosen
    return MixPlan(class_names, {name: splits[name] for name in ("train", "val", "test") if name in splits}, shortfalls, [])


def mix(specs: list[str], out: Path, options: MixOptions, progress: bool = False) -> MixPlan:
    """Read the inputs, plan the mix and write one dataset folder per split under `out`."""
    options.validate()
    inputs = [open_dataset(spec) for spec in specs]
    items, class_names = gather(inputs, options.rename, options.keep)
    items, duplicates = drop_duplicates(items, progress)
    plan = plan_mix(items, class_names, options)
    plan.duplicates = duplicates
    with staged_folder(out) as staging:
        splits = plan.written_splits()
        for name, split_items in plan.splits.items():
            write_split(split_items, class_names, staging / name, options.formats, options.link, progress, splits)
        atomic_write_json(staging / MANIFEST, mix_manifest(inputs, items, plan, options))
    return plan


def mix_manifest(inputs: list[Opened], items: list[Item], plan: MixPlan, options: MixOptions) -> dict:
    """What went in, what came out, what fell short."""
    return {
        "kind": "mix",
        "options": dict(vars(options)),
        "inputs": [
            {"spec": o.spec, "format": o.format, "images": len(o.dataset.samples), "boxes_clipped": o.clipped, "boxes_dropped": o.dropped}
            for o in inputs
        ],
        "classes": plan.class_names,
        "before": split_summary(items, plan.class_names),
        "splits": {name: split_summary(split, plan.class_names) for name, split in plan.splits.items()},
        "shortfalls": {name: vars(s) for name, s in plan.shortfalls.items()},
        "duplicates": [{"dropped": dropped, "kept": kept} for dropped, kept in plan.duplicates],
    }
