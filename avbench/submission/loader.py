"""Build the encoder of a submission folder: check the card, import the factory's module by file, call it.

    card.yaml ─> load_card (fields, no pickles in the folder, weights sha256)
              ─> the weights file is opened as safetensors (header parsed; nothing executed)
              ─> encoder.py imported from its file, with the folder on sys.path while it imports and builds
              ─> factory(weights="<folder>/<weights>", init_seed=...) -> Encoder
              ─> meta checked against the card: name, modalities, weights_sha256

This RUNS THE SUBMITTER'S CODE (the module's top level and the factory) in this process, with this user's
rights. Hashes and the safetensors format protect the weights file, not you from the code: run it isolated
(docs/submitting.md, "Trust model"). While the module is imported and the factory runs, ``torch.load`` refuses
to work, so a factory that unpickles a file fails loudly instead of executing it; this guards against mistakes,
not against code written to get around it.

Errors are :class:`~avbench.submission.card.SubmissionError` naming the file and the problem.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import torch

from avbench.encoder import Encoder
from avbench.submission.card import CARD_FILE, SubmissionCard, SubmissionError, load_card


@dataclass(frozen=True)
class LoadedSubmission:
    """A submission folder's card, the imported factory's module file and the built encoder (as the factory
    returned it: not put in eval mode, so :func:`avbench.validate.encoder.validate` can judge that)."""

    folder: Path
    card: SubmissionCard
    module_file: Path
    encoder: Encoder

    @property
    def weights(self) -> Path:
        return self.folder / self.card.weights


def module_file(folder: Path, card: SubmissionCard) -> Path:
    """The file of the card's factory module: ``encoder`` -> ``folder/encoder.py``; ``pkg.mod`` ->
    ``folder/pkg/mod.py`` (or ``folder/pkg/mod/__init__.py``)."""
    dotted = card.factory.partition(":")[0]
    parts = dotted.split(".")
    if any(not p.isidentifier() for p in parts):
        raise SubmissionError(f"{folder / CARD_FILE}: factory module {dotted!r} is not a dotted Python module name")
    base = folder.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise SubmissionError(f"{base.with_suffix('.py')}: the factory module named in {folder / CARD_FILE} "
                          f"({card.factory!r}) does not exist")


def check_safetensors(path: Path) -> None:
    """Parse the header of a safetensors file (no code runs, nothing unpickled); SubmissionError if it is not one."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            fh.keys()
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise SubmissionError(f"{path}: not a readable safetensors file: {exc}") from exc


def _refuse_load(*_: Any, **__: Any) -> Any:
    raise SubmissionError("the submission's code called torch.load: submissions load weights with safetensors only "
                          "(safetensors.torch.load_file)")


@contextlib.contextmanager
def _importing_from(folder: Path) -> Iterator[None]:
    """The folder on sys.path (first), torch.load refused and no bytecode written into the folder; all restored
    afterwards."""
    saved_load, saved_bytecode = torch.load, sys.dont_write_bytecode
    sys.path.insert(0, str(folder))
    torch.load = _refuse_load  # type: ignore[assignment]
    sys.dont_write_bytecode = True  # the folder may be read-only, and is hashed as it is
    try:
        yield
    finally:
        torch.load = saved_load  # type: ignore[assignment]
        sys.dont_write_bytecode = saved_bytecode
        with contextlib.suppress(ValueError):
            sys.path.remove(str(folder))


def _where(exc: BaseException, folder: Path) -> str:
    """``file:line`` of the innermost frame inside the submission folder, for error messages."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve().is_relative_to(folder)]
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def import_factory(folder: str | Path, card: SubmissionCard) -> tuple[Callable[..., Any], Path]:
    """Import the card's factory module BY FILE under a private module name and return (factory, module file).

    The private name (``avbench_submission_<name>_<hash of the path>``) keeps two submissions that both call
    their module ``encoder`` apart; the folder is on sys.path during the import so the module can import its
    own siblings.
    """
    folder = Path(folder).resolve()
    path = module_file(folder, card)
    attr = card.factory.partition(":")[2]
    tag = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    name = f"avbench_submission_{card.name.replace('-', '_').replace('.', '_')}_{tag}"
    spec = importlib.util.spec_from_file_location(name, path,
                                                  submodule_search_locations=[str(path.parent)]
                                                  if path.name == "__init__.py" else None)
    if spec is None or spec.loader is None:
        raise SubmissionError(f"{path}: cannot be imported as a Python module")
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling-free helpers look their module up here
    try:
        with _importing_from(folder):
            spec.loader.exec_module(module)
    except SubmissionError:
        sys.modules.pop(name, None)
        raise
    except BaseException as exc:
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise SubmissionError(f"{path}: importing the factory module failed: {type(exc).__name__}: {exc}"
                              f"{_where(exc, folder)}") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SubmissionError(f"{path}: has no {attr!r} (the factory named in {folder / CARD_FILE}: "
                                  f"{card.factory!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise SubmissionError(f"{path}: {attr!r} is a {type(obj).__name__}, not a callable factory")
    return obj, path


def load_submission(folder: str | Path, *, init_seed: int = 0, **options: Any) -> LoadedSubmission:
    """Check ``folder`` (card, no pickles, weights hash and format), import its factory and build the encoder.

    The factory is called as ``factory(weights=str(folder / card.weights), init_seed=init_seed, **options)`` and
    must return an :class:`~avbench.encoder.Encoder` whose ``meta.name`` is the card's ``name``, whose
    ``meta.modalities`` are the card's ``modalities`` and whose ``meta.weights_sha256`` is the card's
    ``weights_sha256`` (so every record made with it, by ``submit check`` or by ``avbench eval``, carries the
    hash the card promises).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SubmissionError(f"{folder}: not a submission folder (no such directory)")
    card = load_card(folder, check_weights=True)
    weights = folder / card.weights
    check_safetensors(weights)
    factory, path = import_factory(folder, card)
    try:
        with _importing_from(folder.resolve()):
            enc = factory(weights=str(weights), init_seed=init_seed, **options)
    except SubmissionError:
        raise
    except Exception as exc:
        raise SubmissionError(f"{path}: the factory {card.factory!r} failed on {weights}: {type(exc).__name__}: "
                              f"{exc}{_where(exc, folder.resolve())}") from exc
    if not isinstance(enc, Encoder):
        raise SubmissionError(f"{path}: the factory {card.factory!r} returned {type(enc).__name__}, not an "
                              "avbench.Encoder")
    meta, card_file = enc.meta, folder / CARD_FILE
    problems = []
    if meta.name != card.name:
        problems.append(f"meta.name is {meta.name!r} but the card's name is {card.name!r}")
    if set(meta.modalities) != set(card.modalities):
        problems.append(f"meta.modalities are {list(meta.modalities)} but the card says {card.modalities}")
    if meta.weights_sha256 != card.weights_sha256:
        problems.append(f"meta.weights_sha256 is {meta.weights_sha256!r} but the card (and the file) say "
                        f"{card.weights_sha256}; the factory must record the sha256 of the file it loaded")
    if problems:
        raise SubmissionError(f"{path}: the encoder does not match {card_file}: " + "; ".join(problems))
    return LoadedSubmission(folder=folder, card=card, module_file=path, encoder=enc)


@dataclass(frozen=True)
class ResolvedEncoder:
    """What :func:`resolve_encoder` found: the factory's return value (not yet checked to be an Encoder, not yet in
    eval mode), where it came from (recorded as ``encoder.source``) and the module of its factory (for the code
    fingerprint; None for a live object)."""

    obj: Any
    source: str
    factory_module: str | None


def resolve_encoder(target: "str | Path | Encoder", weights: str | None = None, init_seed: int = 0,
                    options: dict[str, Any] | None = None) -> ResolvedEncoder:
    """THE encoder resolver (eval, validate): a live :class:`~avbench.encoder.Encoder`; a submission folder holding
    ``card.yaml`` (its card names the weights: passing ``weights`` too is an error); or a registered name, zoo
    string or ``"pkg.module:factory"`` (:func:`avbench.registry.resolve_factory`)."""
    options = options or {}
    if isinstance(target, Encoder):
        return ResolvedEncoder(target, f"python object {type(target).__module__}.{type(target).__qualname__}", None)
    path = Path(str(target))
    if path.is_dir() and (path / CARD_FILE).is_file():
        if weights is not None:
            raise SubmissionError(f"{path}: a submission folder's card names its weights; do not pass weights too")
        sub = load_submission(path, init_seed=init_seed, **options)
        return ResolvedEncoder(sub.encoder, f"submission {path} ({sub.card.factory}, weights {sub.card.weights})",
                               sub.card.factory.partition(":")[0])
    from avbench.registry import resolve_factory

    factory, source = resolve_factory(str(target))
    return ResolvedEncoder(factory(weights=weights, init_seed=init_seed, **options), source,
                           getattr(factory, "__module__", None))
