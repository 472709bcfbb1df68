"""Cost of a history diff against the cost of showing the same texts, at growing sizes.

    python bench/diff_bench.py [--repeat 3]

For each worst shape (one long Chinese line replaced by another, many short lines replaced
by a different count, the same line many times, sparse edits in a long line) and size, it
times ``diff_html`` of the two texts and, as the reference in the same run, rendering both
texts as the item page does (Markdown, sanitised). It prints the ratio diff / render and
the diff's own time. A bounded diff keeps the time under the page budget (0.5 s) plus a
linear part, so the ratio does not grow with the size; an unbounded one grows with it.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.memo import TextMemo
from app.public.disclosures import diff
from app.public.disclosures.diff import PAGE_SECONDS
from app.services import sanitize

ZH = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工"


def shapes(size: int, rng: random.Random) -> dict[str, tuple[str, str]]:
    line = "".join(rng.choice(ZH) for _ in range(size))
    other = "".join(rng.choice(ZH) for _ in range(size))
    sparse = list(line)
    for i in range(0, size, 50):
        sparse[i] = "改"
    return {
        "one long line": (line, other),
        "sparse edits": (line, "".join(sparse)),
        "short lines, other count": (
            "\n".join(str(i % 3) for i in range(size // 2)),
            "\n".join(str(i % 5) for i in range(size // 4)),
        ),
        "one line many times": ("同\n" * (size // 2), "同\n" * (size // 2 - 1) + "异"),
        "equal run, ends changed": (
            "c\n" + "a\n" * (size // 2) + "d",
            "e\n" + "a\n" * (size // 2 - 1) + "f",
        ),
    }


def fresh_diff(old: str, new: str):
    diff._DIFFS = TextMemo()
    return diff.diff_html(old, new)


def fresh_render(text: str):
    sanitize._RENDERED = TextMemo()
    return sanitize.render_markdown(text)


def best_of(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(1)
    print(f"page budget {PAGE_SECONDS:.2f} s")
    print(f"{'shape':28} {'chars':>7} {'diff s':>8} {'render s':>9} {'ratio':>7}")
    worst = 0.0
    for size in (5_000, 20_000, 50_000):
        for name, (old, new) in shapes(size, rng).items():
            # A fresh memo each time: the bench measures comparing, not remembering.
            diff = best_of(args.repeat, lambda old=old, new=new: fresh_diff(old, new))
            render = best_of(
                args.repeat, lambda old=old, new=new: (fresh_render(old), fresh_render(new))
            )
            worst = max(worst, diff)
            print(f"{name:28} {size:>7} {diff:>8.3f} {render:>9.3f} {diff / render:>7.1f}")
    print(f"slowest diff {worst:.3f} s (budget {PAGE_SECONDS:.2f} s plus linear work)")


if __name__ == "__main__":
    main()
