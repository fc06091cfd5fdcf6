"""Copy the project code a bundle's configs name into the bundle's ``scripts/`` package.

MONAI Label (and the MONAI Model Zoo convention) put a bundle's own code in ``<bundle>/scripts/`` and import
it as ``scripts`` with the bundle folder on ``sys.path``. Every project package that a config names
(``custom_networks``, ``bundle_tools``) is copied to ``scripts/<package>/`` and every reference to it - in
the copied code and in the configs - becomes ``scripts.<package>``, so the bundle runs where the project is
not installed.

A package ``__init__.py`` that only re-exports names of its modules becomes a lazy one (PEP 562
``__getattr__``): importing ``scripts.bundle_tools.config.flags`` then imports ``flags`` alone, not the plotting
and surface-distance modules (and matplotlib, scipy) that the package's other names come from.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
from collections.abc import Iterable
from pathlib import Path

from bundle_tools.export.errors import ExportError

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
    """The project packages named in ``texts`` (``_target_`` values and ``$`` expressions)."""
    return {m.group(1) for text in texts for m in _REFERENCE.finditer(text)}


def rewrite_references(text: str) -> str:
    """``custom_networks.X`` -> ``scripts.custom_networks.X`` (likewise the other project packages)."""
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


def _header(source: str) -> str:
    return (
        f"# Vendored from seg3d-bundles {_project_version()} ({source}) by `python -m bundle_tools export`\n"
        f"# (Apache-2.0); references to the project's packages point into this bundle's `{VENDOR_PACKAGE}` package.\n"
    )


def _reexports(tree: ast.Module) -> dict[str, tuple[str, str]] | None:
    """``{name: (module, attribute)}`` of an ``__init__`` that only re-exports project names; else None."""
    exports: dict[str, tuple[str, str]] = {}
    for i, node in enumerate(tree.body):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # docstring
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"]:
            continue
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and referenced_packages([node.module])
        ):
            for alias in node.names:
                exports[alias.asname or alias.name] = (node.module, alias.name)
            continue
        return None
    return exports


def _lazy_init(tree: ast.Module, exports: dict[str, tuple[str, str]], source: str) -> str:
    docstring = ast.get_docstring(tree, clean=False)
    kept = {k: (rewrite_references(m), a) for k, (m, a) in sorted(exports.items()) if not _excluded(m)}
    lines = [_header(source)]
    if docstring is not None:
        lines.append(f'"""{docstring}"""\n')
    lines.append(
        "from __future__ import annotations\n\n"
        "import importlib\n"
        "from typing import Any\n\n"
        "# name -> (module, attribute): imported on first use (PEP 562), so one module does not import them all\n"
        "_EXPORTS = {\n"
        + "".join(f"    {name!r}: ({module!r}, {attr!r}),\n" for name, (module, attr) in kept.items())
        + "}\n\n"
        "__all__ = sorted(_EXPORTS)\n\n\n"
        "def __getattr__(name: str) -> Any:\n"
        "    if name not in _EXPORTS:\n"
        '        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")\n'
        "    module_name, attr = _EXPORTS[name]\n"
        "    module = importlib.import_module(module_name)\n"
        "    try:\n"
        "        value = getattr(module, attr)\n"
        "    except AttributeError:\n"
        '        value = importlib.import_module(f"{module_name}.{attr}")\n'
        "    globals()[name] = value\n"
        "    return value\n\n\n"
        "def __dir__() -> list[str]:\n"
        "    return sorted(set(globals()) | set(_EXPORTS))\n"
    )
    return "\n".join(lines)


def _vendored_source(path: Path, package: str, relative: Path) -> str:
    text = path.read_text(encoding="utf-8")
    source = f"{package}/{relative.as_posix()}"
    try:
        tree = ast.parse(text, filename=source)
    except SyntaxError as err:
        raise ExportError(f"{path}: cannot be parsed for vendoring: {err}") from err
    if relative.name == "__init__.py":
        exports = _reexports(tree)
        if exports is not None:
            return _lazy_init(tree, exports, source)
    return _header(source) + rewrite_references(text)


def vendor_packages(packages: Iterable[str], scripts_dir: Path) -> list[str]:
    """Copy ``packages`` into ``scripts_dir/<package>/`` with their references rewritten.

    Args:
        packages: project package names (from :func:`referenced_packages`).
        scripts_dir: the bundle's ``scripts`` folder (created, with an ``__init__.py``).

    Returns:
        The written files, relative to ``scripts_dir``.
    """
    scripts_dir.mkdir(parents=True, exist_ok=True)
    written = ["__init__.py"]
    (scripts_dir / "__init__.py").write_text(
        f'"""Code of this bundle: project packages vendored from seg3d-bundles {_project_version()} '
        "(Apache-2.0)\nby `python -m bundle_tools export`, so the bundle runs where seg3d-bundles is not "
        'installed."""\n',
        encoding="utf-8",
    )
    for package in sorted(set(packages)):
        if package not in PROJECT_PACKAGES:
            raise ExportError(f"{package!r} is not a package of this project")
        root = _package_dir(package)
        for path in sorted(root.rglob("*.py")):
            relative = path.relative_to(root)
            if "__pycache__" in relative.parts or _excluded(_module_name(package, relative)):
                continue
            code = _vendored_source(path, package, relative)
            target = scripts_dir / package / relative
            try:
                compile(code, str(target), "exec")
            except SyntaxError as err:
                raise ExportError(f"{path}: the vendored copy does not compile: {err}") from err
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(code, encoding="utf-8")
            written.append(f"{package}/{relative.as_posix()}")
    return written
