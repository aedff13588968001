"""Write the API reference pages at documentation build time (mkdocs-gen-files runs this; see mkdocs.yml).

One page per public module of the package tree as it is on disk (a module or package whose dotted path has no
part starting with ``_``), each holding a single ``::: gazekit.x.y`` directive that mkdocstrings renders from the
docstrings; packages get ``<package>/index.md``. Nothing here names a module, so moving, adding or removing one
needs no edit of the documentation. The navigation comes from the same walk (literate-nav, ``SUMMARY.md``).
"""

from __future__ import annotations

from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[1]


def public_modules(package: str = "gazekit") -> list[tuple[str, ...]]:
    """Dotted-path parts of every public module under ``package``, sorted."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(part.startswith("_") for part in parts):
            found.append(tuple(parts))
    return found


def main() -> None:
    nav = mkdocs_gen_files.Nav()
    for parts in public_modules():
        is_package = (ROOT.joinpath(*parts) / "__init__.py").is_file()
        doc = Path(*parts, "index.md") if is_package else Path(*parts).with_suffix(".md")
        nav[parts] = doc.as_posix()
        with mkdocs_gen_files.open(Path("reference", doc), "w") as f:
            f.write(f"# `{'.'.join(parts)}`\n\n::: {'.'.join(parts)}\n")
    with mkdocs_gen_files.open("reference/SUMMARY.md", "w") as f:
        f.writelines(nav.build_literate_nav())


main()
