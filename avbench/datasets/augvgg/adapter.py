"""AugVGG (temporal-SSL paper, "Augmented VGG-Sound"): instance retrieval of augmented queries against the clean
VGG-Sound test set, as written by ``avbench data augvgg``.

Layout: a VGG-Sound root (see :mod:`avbench.datasets.vggsound`) and a query folder (default
``<root>/augvgg/<variant>``) holding ``manifest.jsonl`` (one line per query: ``id`` = the source video's id,
``output`` = the query file) and ``info.json`` (generator version and seed).

The manifest this adapter returns is for INSTANCE retrieval: every clean test video is its own class (label =
its index in the gallery), and a query carries the label of its source video, so "a neighbour has the query's
label" means "the query's own source video was retrieved". Split ``official``: ``train`` = the gallery (clean
test videos; sample ids as in VGG-Sound), ``test`` = the queries (ids ``q:<source id>``). A manifest line whose
query file is missing, or whose source is not in the gallery, is a recorded skip; one whose ``output`` climbs out of
the query folder (``../../etc/passwd``) is a refused skip, never opened. An id listed twice is a DatasetError.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from avbench.datasets.base import (
    DatasetAdapter,
    DatasetError,
    Manifest,
    PathOutsideRoot,
    Sample,
    Skip,
    refused,
    refused_notes,
    safe_join,
)
from avbench.datasets.vggsound import load_vggsound

VARIANTS = ("ip", "s", "t", "c")


def read_query_manifest(folder: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(manifest lines, info.json) of a query folder; malformed lines raise DatasetError naming file:line."""
    path, info_path = folder / "manifest.jsonl", folder / "info.json"
    if not path.is_file():
        raise DatasetError(f"augvgg: {path} not found; write the query set first with "
                           f"`avbench data augvgg --root VGGSOUND --out DIR --variant V`")
    lines = []
    first: dict[str, int] = {}
    for n, text in enumerate(path.read_text().splitlines(), start=1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{n}: not JSON ({exc})") from None
        if not isinstance(line, dict) or not {"id", "output"} <= line.keys():
            raise DatasetError(f"{path}:{n}: a query line needs 'id' and 'output'")
        if str(line["id"]) in first:
            raise DatasetError(f"{path}:{n}: query id {line['id']!r} repeats line {first[str(line['id'])]}")
        first[str(line["id"])] = n
        lines.append(line)
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    return lines, info


class AugVGG(DatasetAdapter):
    """``load(root, variant="ip", queries=None, csv=None)``: the gallery from ``root`` and the queries of ``variant``."""

    name = "augvgg"
    modality = "audiovisual"
    synthetic_version = 2  # v2: queries are no longer indexed as clean videos

    @classmethod
    def detect(cls, root: Path) -> bool:
        return (Path(root) / "vggsound.csv").is_file() and (Path(root) / "augvgg").is_dir()

    def write_synthetic(self, out: Path) -> Path:
        """A small VGG-Sound set with all four AugVGG query sets under ``out/augvgg/<variant>``."""
        from avbench.datasets.augvgg.generate import generate_augvgg
        from avbench.synth.vggsound_fixtures import write_vggsound

        write_vggsound(out, n_classes=6, train_per_class=2, test_per_class=3, missing=1, seed=2)
        for variant in ("ip", "s", "t", "c"):
            generate_augvgg(out, out / "augvgg", variant, seed=0)
        return out

    def load(self, root: Path, *, variant: str = "ip", queries: str | Path | None = None,
             csv: str | Path | None = None) -> Manifest:
        if variant not in VARIANTS:
            raise DatasetError(f"augvgg: variant must be one of {VARIANTS}, got {variant!r}")
        root = Path(root).expanduser().resolve()
        folder = Path(queries).expanduser().resolve() if queries is not None else root / "augvgg" / variant
        lines, info = read_query_manifest(folder)
        if info.get("variant") not in (None, variant):
            raise DatasetError(f"augvgg: {folder}/info.json is variant {info.get('variant')!r}, not {variant!r}")
        clean = load_vggsound(root, csv_path=csv)
        by_id = clean.by_id()
        gallery_ids = [i for i in clean.splits["official"]["test"] if i in by_id]
        label = {sid: k for k, sid in enumerate(gallery_ids)}
        samples = [Sample(sid, by_id[sid].path, label[sid], sid) for sid in gallery_ids]
        # clean TEST videos the copy lacks (the adapter records a missing file's path as "test/**/<id>.*")
        skipped = [s for s in clean.skipped if s.path.startswith("test/")]
        queries_ok: list[str] = []
        for line in lines:
            qid = f"q:{line['id']}"
            try:
                path = safe_join(folder, str(line["output"]), what=f"{folder}/manifest.jsonl")
            except PathOutsideRoot as exc:
                skipped.append(refused(qid, exc))
                continue
            if line["id"] not in label:
                skipped.append(Skip(qid, str(path), "source video not in the clean gallery"))
            elif not path.is_file():
                skipped.append(Skip(qid, str(path), "missing file"))
            else:
                samples.append(Sample(qid, path, label[line["id"]], line["id"]))
                queries_ok.append(qid)
        if not queries_ok:
            raise DatasetError(f"augvgg: no usable query in {folder}")
        notes = [f"AugVGG-{variant.upper()} queries from {folder} (generator {info.get('generator', 'unknown')}, "
                 f"seed {info.get('seed', 'unknown')}) against {len(gallery_ids)} clean VGG-Sound test videos",
                 "instance retrieval: labels are gallery indices, a hit is the query's own source video",
                 *clean.notes, *refused_notes(skipped)]
        return Manifest("augvgg", root, sorted(samples, key=lambda s: s.id), list(gallery_ids),
                        {"official": {"train": gallery_ids, "test": sorted(queries_ok)}},
                        expected=len(gallery_ids) + len([s for s in skipped]) + len(queries_ok),
                        skipped=skipped, notes=notes)
