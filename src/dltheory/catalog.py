"""What `dltheory list` and `--help` need, without importing torch.

The experiments' metadata (id, lecture, title, papers, one-line summary) is read statically
from the modules under ``dltheory/experiments/``: each ``@register`` class states them as
literal class attributes. ``tests/test_report_catalog.py`` checks this reading against the
imported registry, so the two never disagree; a module whose metadata is not literal makes
:func:`experiments` fall back to importing the registry (correct, only slower).

The bibliography is loaded from its file alone (it imports nothing heavy), because importing
``dltheory.experiments`` would import torch through the package's ``__init__``.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

EXPERIMENTS_DIR = Path(__file__).parent / "experiments"
_NOT_EXPERIMENTS = {"__init__.py", "base.py", "registry.py", "bibliography.py"}


@dataclass(frozen=True)
class ExperimentInfo:
    id: str
    lecture: int
    title: str
    papers: tuple[str, ...]
    summary: str


class _NotLiteral(Exception):
    pass


def _registered_classes(tree: ast.Module) -> list[ast.ClassDef]:
    out = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for d in node.decorator_list:
                name = d.id if isinstance(d, ast.Name) else d.attr if isinstance(d, ast.Attribute) else None
                if name == "register":
                    out.append(node)
    return out


def _class_heads(text: str) -> str:
    """The ``@register`` classes of a module up to their first method (where the metadata lives): parsing less is faster."""
    lines = text.splitlines()
    keep: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("@") and "register" in lines[i]:
            j = i + 1
            while j < len(lines) and not lines[j].startswith(("    def ", "    @")) and not (lines[j][:1].strip() and not lines[j].startswith(("class ", "@", ")"))):
                j += 1
            keep.extend(lines[i:j])
            keep.append("    pass")
            i = j
        else:
            i += 1
    return "\n".join(keep) + "\n"


def _info(cls: ast.ClassDef) -> ExperimentInfo:
    attrs = {}
    for stmt in cls.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name, value = stmt.targets[0].id, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            name, value = stmt.target.id, stmt.value
        else:
            continue
        if name in ("id", "lecture", "title", "papers"):
            try:
                attrs[name] = ast.literal_eval(value)
            except ValueError:
                raise _NotLiteral(f"{cls.name}.{name}") from None
    if not {"id", "lecture", "title"} <= set(attrs) or not isinstance(attrs["id"], str) or not isinstance(attrs["lecture"], int):
        raise _NotLiteral(cls.name)
    doc = (ast.get_docstring(cls) or "").strip().splitlines()
    return ExperimentInfo(attrs["id"], attrs["lecture"], str(attrs["title"]), tuple(attrs.get("papers", ())), doc[0] if doc else str(attrs["title"]))


def read_static() -> list[ExperimentInfo]:
    """The metadata of every experiment under ``dltheory/experiments/``, read without importing it.

    Raises:
        ValueError: a registered class whose metadata is not a literal (import the registry instead).
    """
    infos = []
    for path in sorted(EXPERIMENTS_DIR.rglob("*.py")):
        if path.name in _NOT_EXPERIMENTS and path.parent == EXPERIMENTS_DIR or path.name == "__init__.py":
            continue
        text = path.read_text(encoding="utf-8")
        if "register" not in text:
            continue
        try:
            tree = ast.parse(_class_heads(text), filename=str(path))
        except SyntaxError:  # the cut went wrong: parse the whole file
            tree = ast.parse(text, filename=str(path))
        for cls in _registered_classes(tree):
            try:
                infos.append(_info(cls))
            except _NotLiteral as e:
                raise ValueError(f"{path}: the metadata of {e} is not a literal") from None
    return infos


def experiments() -> list[ExperimentInfo]:
    """Every experiment, by lecture then id: read statically, plus any already registered in this process."""
    try:
        infos = {x.id: x for x in read_static()}
    except (ValueError, SyntaxError, OSError):
        infos = None
    reg = sys.modules.get("dltheory.experiments.registry")
    if infos is None:  # fall back to importing them all
        from dltheory.experiments import registry as reg

        reg.discover()
        infos = {}
    if reg is not None:  # experiments registered by code outside the package (tests, plugins)
        for cls in getattr(reg, "_REGISTRY", {}).values():
            infos.setdefault(cls.id, ExperimentInfo(cls.id, cls.lecture, cls.title, tuple(cls.papers), cls.summary()))
    return sorted(infos.values(), key=lambda x: (x.lecture, x.id))


def bibliography() -> ModuleType:
    """The bibliography module (``PAPERS``, ``Paper``), imported as is when loaded, else from its file alone."""
    mod = sys.modules.get("dltheory.experiments.bibliography") or sys.modules.get("dltheory._bibliography")
    if mod is not None:
        return mod
    spec = importlib.util.spec_from_file_location("dltheory._bibliography", EXPERIMENTS_DIR / "bibliography.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def paper_status(paper, implemented: set[str]) -> str:
    """'implemented', 'planned', or '-' for a reference without an experiment."""
    if paper.experiment is None:
        return "-"
    return "implemented" if paper.experiment in implemented else "planned"
