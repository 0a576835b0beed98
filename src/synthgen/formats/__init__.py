"""Readers and writers between files and the label model, by format name.

Every format reads into and writes from `synthgen.labels` (one label type, a registry of formats,
as lightly-ai/labelformat does). There is one list of readers and one of exports; the command line,
recipes and the writers take their names from them.

- `formats.sources.READERS`: what `synthgen convert`, `mix`, `plan` and `report` open.
- `EXPORTS`: what a dataset folder carries besides `annotations.json` (`formats.folder.write_labels`).
"""

EXPORTS = ("coco", "yolo", "yolo-seg", "voc")
