"""Copy the project code a bundle's configs name into the bundle's ``scripts/`` package, unchanged.

MONAI Label (and the MONAI Model Zoo convention) put a bundle's own code in ``<bundle>/scripts/`` and import
it as ``scripts`` with the bundle folder on ``sys.path``; between bundles it unloads the ``scripts`` modules
only, so the code must live under ``scripts.`` names (top-level ``bundle_tools`` would be shared by every
bundle a server hosts). Every project package a config names (``custom_networks``, ``bundle_tools``) and
every package they import (``data_prep``) is copied to ``scripts/<package>/``.

The packages import their own modules relatively (``from ..io import atomic_write``), so a file is copied
byte for byte. The one exception is an import statement of *another* project package
(``from data_prep.io import atomic_write`` in ``bundle_tools``): Python has no relative import across
top-level packages, so that statement's module becomes ``scripts.data_prep.io``; nothing else in the line or
the file changes, and :func:`vendor_packages` returns each such line for ``docs/export.json``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
from collections.abc import Iterable
from pathlib import Path

from .errors import ExportError

__all__ = [
    "EXCLUDED_MODULES",
    "PROJECT_PACKAGES",
    "VENDOR_PACKAGE",
    "referenced_packages",
    "rewrite_references",
    "vendor_packages",
]

PROJECT_PACKAGES = ("custom_networks", "bundle_tools", "data_prep")
"""The project's top-level packages (``pyproject.toml``); configs may name any of them."""

VENDOR_PACKAGE = "scripts"
"""The package of a bundle's own code (MONAI Label imports it from the bundle folder)."""

EXCLUDED_MODULES = ("bundle_tools.export", "bundle_tools.__main__")
"""Modules never copied into a bundle (the exporter itself and command-line entry points)."""

_REFERENCE = re.compile(r"(?<![\w.])(" + "|".join(PROJECT_PACKAGES) + r")(?!\w)")


def referenced_packages(texts: Iterable[str]) -> set[str]:
    """The project packages named in ``texts`` (the configs' ``_target_`` values and ``$`` expressions)."""
    return {m.group(1) for text in texts for m in _REFERENCE.finditer(text)}


def rewrite_references(text: str) -> str:
    """``custom_networks.X`` -> ``scripts.custom_networks.X`` (likewise the other project packages); for the
    configs, which the exporter writes anew."""
    return _REFERENCE.sub(lambda m: f"{VENDOR_PACKAGE}.{m.group(1)}", text)


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ExportError(f"the configs name the project package {name!r}, but it is not importable here")
    return Path(next(iter(spec.submodule_search_locations)))


def _module_name(package: str, relative: Path) -> str:
    parts = [package, *relative.with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _excluded(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in EXCLUDED_MODULES)


def _project_version() -> str:
    try:
        return importlib.metadata.version("seg3d-bundles")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _sibling_imports(tree: ast.Module, package: str, source: str) -> dict[int, str]:
    """``{line index: module}`` of the import statements that name another project package."""
    found: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            if top == package:
                raise ExportError(
                    f"{source}:{node.lineno}: imports its own package absolutely ({module}); "
                    "a vendored package imports its own modules relatively"
                )
            if top in PROJECT_PACKAGES:
                if isinstance(node, ast.Import):
                    raise ExportError(
                        f"{source}:{node.lineno}: write `from {module} import ...` to vendor it"
                    )
                found[node.lineno - 1] = module
    return found


def vendored_source(text: str, package: str, source: str) -> tuple[str, list[str], set[str]]:
    """``text`` as it goes into ``scripts/<package>/``, the lines that changed (as they read after) and the
    project packages it imports.

    Only the module of an import statement naming another project package changes (``scripts.`` in front).
    """
    try:
        tree = ast.parse(text, filename=source)
    except SyntaxError as err:
        raise ExportError(f"{source}: cannot be parsed for vendoring: {err}") from err
    lines = text.splitlines(keepends=True)
    changed = []
    siblings = _sibling_imports(tree, package, source)
    for index, module in sorted(siblings.items()):
        line, count = re.subn(
            rf"\bfrom\s+{re.escape(module)}\s+import\b",
            f"from {VENDOR_PACKAGE}.{module} import",
            lines[index],
            count=1,
        )
        if count != 1:
            raise ExportError(f"{source}:{index + 1}: cannot find `from {module} import` on its first line")
        lines[index] = line
        changed.append(f"{source}:{index + 1}: {line.strip()}")
    return "".join(lines), changed, {module.split(".")[0] for module in siblings.values()}


def vendor_packages(packages: Iterable[str], scripts_dir: Path) -> dict[str, list[str]]:
    """Copy ``packages`` (and the project packages they import) into ``scripts_dir/<package>/``.

    Args:
        packages: project package names (from :func:`referenced_packages`).
        scripts_dir: the bundle's ``scripts`` folder (created, with an ``__init__.py``).

    Returns:
        ``{"files": [...], "changed_lines": [...]}``: the written files relative to ``scripts_dir``, and each
        import line whose module now starts with ``scripts.`` (every other byte is the source's).
    """
    scripts_dir.mkdir(parents=True, exist_ok=True)
    files = ["__init__.py"]
    changed: list[str] = []
    (scripts_dir / "__init__.py").write_text(
        f'"""Code of this bundle: project packages copied from seg3d-bundles {_project_version()} '
        "(Apache-2.0)\nby `python -m bundle_tools export`, so the bundle runs where seg3d-bundles is not "
        'installed (docs/export.json lists the files)."""\n',
        encoding="utf-8",
    )
    queue, done = sorted(set(packages)), set()
    while queue:
        package = queue.pop(0)
        if package in done:
            continue
        if package not in PROJECT_PACKAGES:
            raise ExportError(f"{package!r} is not a package of this project")
        done.add(package)
        root = _package_dir(package)
        for path in sorted(root.rglob("*.py")):
            relative = path.relative_to(root)
            if "__pycache__" in relative.parts or _excluded(_module_name(package, relative)):
                continue
            source = f"{package}/{relative.as_posix()}"
            code, lines, imported = vendored_source(path.read_text(encoding="utf-8"), package, source)
            changed += lines
            queue += sorted(imported - done)
            target = scripts_dir / package / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(code, encoding="utf-8")
            files.append(source)
    return {"files": files, "changed_lines": changed}
