"""README.md and docs/*.md: links that resolve, a short README, commands that exist.

- Every relative link (``[text](target)``, ``![alt](target)``) outside code points to an existing
  file, and an anchor (``page.md#heading``, ``#heading``) to a heading of that page, slugged as
  GitHub does.
- README.md stays under :data:`README_MAX_LINES` lines, and its first image is near the top and
  exists.
- Every module run as ``python -m X`` (or ``torchrun ... -m X``) and every script run as
  ``python path.py`` in these pages is a file of the repository.
- README's install and test commands are the ones ``.ci/run`` runs.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250
FIRST_IMAGE_WITHIN_LINES = 30
# Modules of other projects that the pages run with ``python -m``.
EXTERNAL_MODULES = {"pip", "pytest", "venv", "torch.distributed.run"}

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
PYTHON_MODULE = re.compile(r"(?:python[\d.]*|torchrun\b[^\n`]*?)\s+-m\s+([A-Za-z_][\w.]*)")
PYTHON_SCRIPT = re.compile(r"python[\d.]*\s+((?:\.{1,2}/)?[\w./-]*\.py)\b")


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code spans."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: markup dropped, lower case, punctuation removed, spaces
    to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = text.replace("`", "").replace("*", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> Set[str]:
    """The anchors of a page's headings (repeated ones numbered -1, -2, ... as GitHub does)."""
    seen: Dict[str, int] = {}
    result = set()
    for match in HEADING.finditer(FENCE.sub("", path.read_text())):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def relative_links(path: Path) -> List[Tuple[str, str, str]]:
    """``(target as written, file part, anchor)`` of a page's relative links."""
    links = []
    for match in LINK.finditer(prose(path.read_text())):
        target = match.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        links.append((target, file_part, anchor))
    return links


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_relative_links_resolve(page):
    problems = []
    for target, file_part, anchor in relative_links(page):
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.is_relative_to(ROOT):
            problems.append(f"{target}: outside the repository")
            continue
        if not linked.exists():
            problems.append(f"{target}: no such file")
            continue
        if anchor:
            if linked.suffix != ".md":
                problems.append(f"{target}: an anchor into a file that is not a page")
            elif anchor not in anchors(linked):
                problems.append(f"{target}: {rel(linked)} has no heading #{anchor}")
    assert not problems, f"{rel(page)}:\n  " + "\n  ".join(problems)


def test_readme_is_short():
    lines = README.read_text().splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_readme_first_image_exists_near_the_top():
    text = prose(README.read_text())
    images = [m for m in LINK.finditer(text) if m.group(0).startswith("!")]
    assert images, "README.md has no image"
    first = images[0]
    line = text[:first.start()].count("\n") + 1
    assert line <= FIRST_IMAGE_WITHIN_LINES, f"the first image is on line {line}"
    assert (ROOT / first.group(1)).is_file(), f"{first.group(1)} does not exist"


def module_file(name: str) -> Path | None:
    """The file ``python -m name`` runs in this repository, if any."""
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__main__.py"):
        if candidate.is_file():
            return candidate
    return None


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_commands_name_existing_modules_and_scripts(page):
    text = page.read_text()
    missing = sorted({m for m in PYTHON_MODULE.findall(text)
                      if m not in EXTERNAL_MODULES and module_file(m) is None})
    missing += sorted({s for s in PYTHON_SCRIPT.findall(text) if not (ROOT / s).is_file()})
    assert not missing, f"{rel(page)} runs what the repository does not have: {missing}"


def test_module_resolution():
    assert module_file("benchmarks.coco.evaluate") == ROOT / "benchmarks/coco/evaluate.py"
    assert module_file("pose") == ROOT / "pose/__main__.py"
    assert module_file("benchmarks.no_such_module") is None
    found = PYTHON_MODULE.findall("PYTHONPATH=. venv/bin/python -m benchmarks.mot.peers; "
                                  "torchrun --nproc_per_node=4 -m benchmarks.coco.train")
    assert found == ["benchmarks.mot.peers", "benchmarks.coco.train"]
    assert PYTHON_SCRIPT.findall("python apps/track_video.py VIDEO") == ["apps/track_video.py"]


def test_slugs_follow_github():
    assert slug("Detection ahead (both devices)") == "detection-ahead-both-devices"
    assert slug("What survives a crash, a kill or a full disk") == \
        "what-survives-a-crash-a-kill-or-a-full-disk"
    assert slug("The video app, the tracker, memory") == "the-video-app-the-tracker-memory"
    assert slug("`crop=` and `--detect-every`") == "crop-and---detect-every"


def test_readme_has_the_ci_commands():
    """CI installs the project as README says and runs README's test command: the commands of
    ``.ci/run`` must appear in README's code blocks exactly."""
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line.strip() for line in ci if line.strip() and not line.strip().startswith("#")]
    install = [c for c in commands if re.search(r"\bpip install\b", c)]
    assert install, ".ci/run installs nothing"
    code_lines = {line.strip() for match in FENCE.finditer(README.read_text())
                  for line in match.group(0).splitlines()}
    for command in install:
        readme_form = re.sub(r"^python[\d.]* -m pip", "pip", command)
        assert readme_form in code_lines or command in code_lines, command
    assert commands[-1] in code_lines, f"README does not show the test command {commands[-1]!r}"
