"""Cost of showing a publisher's Markdown per kilobyte, for a large text against a small one.

    python bench/markdown_bench.py [--repeat 3]

For each shape (a one-column table, a two-column table, paragraphs, a list, runs of
emphasis marks) it renders a 10 KB text and a 100 KB text of the same shape as the item
page does (markdown-it, then bleach), without the memo. The reference is the small text,
measured in the same run: the ratio is the large text's time per kilobyte over the small
one's. Work that grows with the size gives about 1; work that grows with its square, 10.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.services import sanitize

SHAPES = {
    "table, 1 column": lambda n: "| 项目 |\n| --- |\n" + "| 甲 |\n" * n,
    "table, 2 columns": lambda n: "| 姓名 | 补贴 |\n| --- | --- |\n" + "| 职工 | 1200 |\n" * n,
    "paragraphs": lambda n: "第一车间。\n\n" * n,
    "list": lambda n: "- 采购项\n" * n,
    "loose list": lambda n: "- 采购项\n\n" * n,
    "nested quotes": lambda n: ">> 引用\n>\n" * n,
    "marked words": lambda n: "***重点*** " * n,
    "emphasis marks": lambda n: "_*" * n,
}
TARGET = 2.0  # the large text may cost at most twice per kilobyte what the small one does


def _sized(shape, size: int) -> str:
    n = 1
    while len(shape(n).encode()) < size:
        n *= 2
    low, high = n // 2, n
    while low < high:  # the largest count that stays within the size
        mid = (low + high + 1) // 2
        low, high = (mid, high) if len(shape(mid).encode()) <= size else (low, mid - 1)
    return shape(low)


def _seconds(text: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        sanitize._render_markdown(text)  # the memo's caller, so every run pays in full
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'shape':<18} {'10 KB s':>8} {'100 KB s':>9} {'ratio per KB':>13}  target <= {TARGET}")
    worst = 0.0
    for name, shape in SHAPES.items():
        small = _sized(shape, 10_000)
        large = _sized(shape, 100_000)
        small_s = _seconds(small, args.repeat)
        large_s = _seconds(large, args.repeat)
        ratio = (large_s / len(large.encode())) / (small_s / len(small.encode()))
        worst = max(worst, ratio)
        print(f"{name:<18} {small_s:8.3f} {large_s:9.3f} {ratio:13.2f}")
    print(f"worst ratio {worst:.2f}: {'met' if worst <= TARGET else 'NOT met'}")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
