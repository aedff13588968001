"""MkDocs hook (mkdocs.yml ``hooks:``): every top-level page under docs/ is in the navigation.

Pages listed in mkdocs.yml's ``nav`` keep their place; any other ``docs/*.md`` (a page another change added without
touching mkdocs.yml) goes under "More guides", titled by its first ``# `` heading. A nav entry must name an existing
file (``mkdocs build --strict`` fails otherwise), so pages are listed once they exist and this catches the rest.
"""

from __future__ import annotations

from pathlib import Path


def _listed(nav) -> set[str]:
    found: set[str] = set()
    for item in nav or []:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if isinstance(value, list):
            found |= _listed(value)
        elif isinstance(value, str):
            found.add(value)
    return found


def _title(page: Path) -> str:
    for line in page.read_text().splitlines():
        if line.startswith("# "):
            return line[2:].strip().strip("`")
    return page.stem.replace("-", " ").capitalize()


def on_config(config):
    docs = Path(config["docs_dir"])
    listed = _listed(config["nav"])
    extra = [{_title(p): p.name} for p in sorted(docs.glob("*.md")) if p.name not in listed]
    if extra:
        config["nav"].insert(len(config["nav"]) - 1, {"More guides": extra})  # before the API reference
    return config
