"""The benchmark's tables: per-stage seconds with rates, torch SVM vs liblinear, and the speed limits (each a row
with its measured ratio, target and met / not met)."""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from tabulate import tabulate

STAGES = ("decode", "augment", "frontend", "forward", "other", "svm")
#: the README demo's limit on 2 cores (seconds)
DEMO_LIMIT_S = 600.0


def load_line() -> str:
    """``"load avg 1.00 0.80 0.50"``: the 1/5/15-minute load averages (on shared cores they move the figures)."""
    return "load avg " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def stage_table(name: str, st: dict[str, Any], e2e: list[dict[str, Any]]) -> str:
    """The stage table of one task (seconds, share, x real time, clips/s), then one row per end-to-end run."""
    total = sum(st["seconds"].values())
    clips = sum(st["clips"].values())
    rows = []
    for stage in STAGES:
        if stage not in st["seconds"]:
            continue
        s = st["seconds"][stage]
        rate = f"{st['media_seconds'] / s:.1f}x" if s > 0 and stage != "svm" else ""
        extra = f"{clips / s:.1f} clips/s" if stage == "forward" and s > 0 else ""
        rows.append([stage, f"{s:.2f}", f"{100 * s / total:.0f} %", rate, extra])
    rows.append(["sum of stages", f"{total:.2f}", "100 %", f"{st['media_seconds'] / total:.1f}x", ""])
    for e in e2e:
        rows.append([f"end to end, workers {e['workers']}", f"{e['wall']:.2f}", "",
                     f"{st['media_seconds'] / e['wall']:.1f}x",
                     f"overlap efficiency {total / e['wall']:.2f} (extraction {e['extract_seconds']:.1f} s, "
                     f"svm {e['svm_seconds']:.1f} s, top-1 {e['top1']:.1f} %)"])
    head = (f"{name}: {st['files']['train']} train / {st['files']['test']} test files, {clips} clips, "
            f"{st['media_seconds']:.0f} s of media decoded, {st['dim']}-D features, {st['n_classes']} classes, "
            f"{len(st['splits'])} splits")
    return head + "\n" + tabulate(rows, headers=["stage", "seconds", "share", "x real time", ""], tablefmt="github")


def svm_comparison(stages: dict[str, Any]) -> dict[str, Any] | None:
    """sklearn vs torch on the C values sklearn ran (every split): seconds, ratio, top-1 differences (points)."""
    if not stages["svm_sklearn"]:
        return None
    t_sk = t_to = 0.0
    diffs, n_c = [], 0
    best_to, best_sk = [], []
    for tor, sk in zip(stages["svm_torch"], stages["svm_sklearn"]):
        common = [C for C in tor if C in sk]
        n_c += len(common)
        t_sk += sum(sk[C]["seconds"] for C in common)
        t_to += sum(tor[C]["seconds"] for C in common)
        diffs += [abs(tor[C]["top1"] - sk[C]["top1"]) for C in common]
        if common:
            best_to.append(max(tor[C]["top1"] for C in common))
            best_sk.append(max(sk[C]["top1"] for C in common))
    full = n_c == sum(len(t) for t in stages["svm_torch"])
    return {"sklearn_seconds": t_sk, "torch_seconds": t_to, "ratio": t_sk / t_to if t_to > 0 else float("inf"),
            "fits_compared": n_c, "complete": full, "max_abs_top1_diff": max(diffs) if diffs else None,
            "best_c_top1_diff": abs(float(np.mean(best_to)) - float(np.mean(best_sk))) if best_to else None}


def svm_limit(task: str, cmp: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The limit row: torch SVM >= 10x faster than sklearn on CPU (50x on a GPU), best-C top-1 within 0.5 points."""
    target = 50.0 if device.type == "cuda" else 10.0
    acc_ok = cmp["best_c_top1_diff"] is not None and cmp["best_c_top1_diff"] <= 0.5
    return {
        "limit": f"{task}: torch SVM vs sklearn speed (>= {target:g}x on {device.type}), best-C top-1 "
                 f"within 0.5 points", "measured": cmp["ratio"], "target": target,
        "met": cmp["ratio"] >= target and acc_ok,
        "detail": f"sklearn {cmp['sklearn_seconds']:.2f} s vs torch {cmp['torch_seconds']:.2f} s on "
                  f"{cmp['fits_compared']} (split, C) fits{'' if cmp['complete'] else ' (sklearn budget hit)'}"
                  f"; best-C top-1 diff {cmp['best_c_top1_diff']:.2f}, max per-C diff "
                  f"{cmp['max_abs_top1_diff']:.2f} points"}


def throughput_limits(st: dict[str, Any], runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One limit row per end-to-end run: extraction clips/s >= 0.9x the forward-only clips/s of the stages."""
    rows = []
    fwd = sum(st["clips"].values()) / st["seconds"]["forward"]
    for e in runs:
        pipe = e["clips"] / e["extract_seconds"]
        rows.append({
            "limit": f"ucf101-linear: extraction throughput / forward-only (>= 0.9; a GPU target), "
                     f"workers {e['workers']}", "measured": pipe / fwd, "target": 0.9,
            "met": pipe / fwd >= 0.9,
            "detail": f"pipeline {pipe:.1f} clips/s, forward-only {fwd:.1f} clips/s"})
    return rows


def decode_limit(dr: dict[str, float]) -> dict[str, Any]:
    """The limit row: 10 uniform clips from one decode <= 1.3x one plain full decode (``decode_ratio``'s figures)."""
    return {"limit": "10 uniform clips from one decode / one plain full decode (<= 1.3)",
            "measured": dr["ratio"], "target": 1.3, "met": dr["ratio"] <= 1.3,
            "detail": f"{dr['clips10_ms']:.1f} ms vs {dr['full_ms']:.1f} ms, median over "
                      f"{dr['files']} 320x240 7-s files of the best of 2"}


def demo_limit(dm: dict[str, Any], load0: str) -> dict[str, Any]:
    """The limit row: ``avbench demo`` succeeds within :data:`DEMO_LIMIT_S` seconds (``demo_seconds``'s figures)."""
    return {"limit": "avbench demo wall (<= 600 s on 2 cores)", "measured": dm["wall"] / DEMO_LIMIT_S,
            "target": 1.0, "met": dm["rc"] == 0 and dm["wall"] <= DEMO_LIMIT_S,
            "detail": f"{dm['wall']:.0f} s, {os.cpu_count()} CPUs, {load0} before"
                      + ("" if dm["rc"] == 0 else f"; FAILED rc={dm['rc']}: {dm['tail']}")}


def limits_table(limits: list[dict[str, Any]]) -> str:
    """The limits as a GitHub table: limit, ratio (measured / its reference), target, met / NOT met, detail."""
    return tabulate([[lim["limit"], f"{lim['measured']:.2f}", f"{lim['target']:g}", "met" if lim["met"] else "NOT met",
                      lim["detail"]] for lim in limits],
                    headers=["limit", "ratio", "target", "", "detail"], tablefmt="github")
