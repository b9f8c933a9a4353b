"""Tagged blocks of bench/RESULTS.md: ``bench/fgd.py`` and ``bench/gavel.py`` each own one
(``<!-- tag:start -->`` ... ``<!-- tag:end -->``); ``bench/run.py`` writes the rest of the
file and keeps them."""

from __future__ import annotations

import re
from pathlib import Path

_BLOCK = re.compile(r"<!-- (\w+):start -->.*?<!-- \1:end -->", re.S)


def replace_md_block(path: Path, tag: str, lines: list[str]) -> None:
    """Put ``lines`` between ``<!-- tag:start -->`` and ``<!-- tag:end -->`` in ``path``,
    appending the block if it is not there yet."""
    block = "\n".join([f"<!-- {tag}:start -->", *lines, f"<!-- {tag}:end -->"])
    text = path.read_text() if path.is_file() else ""
    pattern = re.compile(rf"<!-- {tag}:start -->.*?<!-- {tag}:end -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def with_kept_blocks(path: Path, text: str) -> str:
    """``text`` followed by the tagged blocks ``path`` holds now, so rewriting the file
    does not drop another script's figures."""
    old = path.read_text() if path.is_file() else ""
    blocks = [m.group(0) for m in _BLOCK.finditer(old)]
    return text.rstrip("\n") + "".join("\n\n" + b for b in blocks) + "\n"
