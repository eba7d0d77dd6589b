"""The README and docs/: the README short, saying where things live in one section, its pictures small and all
used; every local link in the Markdown files points at a file and heading that exist."""

import re
from pathlib import Path

import pytest

from include.finance.config import PROJECT_ROOT


def read(rel: str) -> str:
    return (PROJECT_ROOT / rel).read_text()


def test_readme_pictures_exist_are_small_pngs_and_all_are_used():
    from PIL import Image

    used = set(re.findall(r"!\[[^\]]*\]\((docs/images/[^)]+)\)", read("README.md")))
    assert used == {f"docs/images/{p.name}" for p in (PROJECT_ROOT / "docs" / "images").iterdir()}
    for rel in used:
        with Image.open(PROJECT_ROOT / rel) as image:
            assert image.format == "PNG", rel
        assert (PROJECT_ROOT / rel).stat().st_size < 200_000, f"{rel} is over 200 kB: make pictures writes small ones"


README_MAX_LINES = 300
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def heading_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped, spaces -> '-'."""
    anchors, in_code = set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (match := re.match(r"#{1,6}\s+(.*)", line)):
            anchors.add(re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-"))
    return anchors


def local_links(rel: str) -> list[tuple[Path, str]]:
    """(target file, anchor) of every link in a Markdown file that is not to the web."""
    source = PROJECT_ROOT / rel
    links = []
    for target in MARKDOWN_LINK.findall(source.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        path, _, anchor = target.partition("#")
        links.append(((source.parent / path).resolve() if path else source, anchor))
    return links


def test_readme_is_short_and_every_docs_page_it_links_exists():
    text = read("README.md")
    lines = len(text.splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move the long parts to docs/"
    docs_links = set(re.findall(r"\]\((docs/[^)#\s]+\.md)", text))
    assert docs_links, "README.md links no docs/*.md page"
    missing = sorted(link for link in docs_links if not (PROJECT_ROOT / link).is_file())
    assert not missing, f"README.md links docs pages that do not exist: {missing}"


@pytest.mark.parametrize("rel", ["README.md", *sorted(f"docs/{p.name}" for p in (PROJECT_ROOT / "docs").glob("*.md"))])
def test_markdown_links_point_at_existing_files_and_headings(rel):
    broken = []
    for path, anchor in local_links(rel):
        if not path.exists():
            broken.append(f"{path.relative_to(PROJECT_ROOT)} (no such file)")
        elif anchor and path.suffix == ".md" and anchor not in heading_anchors(path.read_text()):
            broken.append(f"{path.relative_to(PROJECT_ROOT)}#{anchor} (no such heading)")
    assert not broken, f"{rel} has broken links: {broken}"


def test_readme_says_where_things_live_in_one_section():
    text = read("README.md")
    assert text.count("## Where things live") == 1 and "## Folders" not in text
    section = text.split("## Where things live", 1)[1].split("\n## ", 1)[0]
    for path in ("dags/", "airflow3/", "include/finance/sql/", "include/finance/config.py", "include/finance/contract.py",
                 "include/finance/", "dashboard/app.py", "scripts/", "docs/architecture.md"):
        assert f"{path}`" in section or f"({path})" in section, path
    for package in ("ingestion", "loading", "quality", "training", "production"):  # the core's, each said
        assert f"`{package}/`" in section, package
