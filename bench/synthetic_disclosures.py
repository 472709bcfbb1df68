"""Synthetic disclosures for the benchmarks: mixed Chinese and English, in the bulk import's
JSON-lines format, the same for the same seed."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

TOPICS = {
    "procurement": (["招标", "中标", "采购", "供应商", "报价"], ["tender", "bidding", "supplier"]),
    "budget-accounts": (["预算", "决算", "收入", "利润"], ["budget", "accounts", "revenue"]),
    "pay-welfare": (["工资", "福利", "社保", "年金"], ["salary", "welfare", "pension"]),
    "work-safety": (["安全", "隐患", "演练", "事故"], ["safety", "hazard", "drill"]),
    "major-decisions": (["决策", "投资", "项目", "资金"], ["decision", "investment", "project"]),
    "workers-congress": (["职代会", "决议", "提案"], ["congress", "resolution", "motion"]),
    "party-dues": (["党费", "收缴", "党员"], ["dues", "members", "collection"]),
    "member-appraisal": (["评议", "党员", "优秀"], ["appraisal", "members", "rating"]),
    "discipline-outcomes": (["问责", "处分", "纪律"], ["discipline", "accountability"]),
    "organisation-life": (["组织", "生活会", "批评"], ["organisation", "meeting"]),
}
COMMON_HAN = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也"
    "能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实"
    "加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样"
    "与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情"
)
SYLLABLES = ["ka", "lo", "mi", "ter", "an", "so", "ve", "ri", "don", "pla", "sta", "ne", "gu"]
UNIT_CODES = ["GRP", "MCH", "MCH-W1", "MCH-PUR", "CHM"]


def _han_word(rng: random.Random) -> str:
    return rng.choice(COMMON_HAN) + rng.choice(COMMON_HAN)


def _latin_word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))


def synthetic_item(rng: random.Random, number: int, today: date) -> dict:
    """One import line: a topic, 70% Chinese and 30% English text, a few revisions."""
    category = rng.choice(list(TOPICS))
    han, latin = TOPICS[category]
    chinese = rng.random() < 0.7
    if chinese:
        words = [rng.choice(han) if rng.random() < 0.15 else _han_word(rng) for _ in range(120)]
        sentences = ["".join(words[i : i + 12]) + "。" for i in range(0, len(words), 12)]
        body = "\n\n".join("".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3))
        title = f"{rng.choice(han)}{''.join(_han_word(rng) for _ in range(3))}公示（第{number}号）"
    else:
        words = [rng.choice(latin) if rng.random() < 0.1 else _latin_word(rng) for _ in range(90)]
        sentences = [
            " ".join(words[i : i + 10]).capitalize() + "." for i in range(0, len(words), 10)
        ]
        body = "\n\n".join(" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3))
        title = f"{rng.choice(latin).capitalize()} {_latin_word(rng)} notice no. {number}"
    day = today - timedelta(days=rng.randint(30, 5 * 365))
    scope = rng.choices(["all", "unit", "party"], weights=[90, 5, 5])[0]
    item = {
        "title": title,
        "category": category,
        "unit": rng.choice(UNIT_CODES),
        "scope": scope,
        "body_md": body,
        "published_on": day.isoformat(),
    }
    if rng.random() < 0.05:
        item["revisions"] = [
            {
                "body_md": body + "\n\n更正：金额有误。",
                "reason": "更正金额",
                "revised_on": (day + timedelta(days=3)).isoformat(),
            }
        ]
    if rng.random() < 0.01:
        item["retraction"] = {
            "retracted_on": (day + timedelta(days=10)).isoformat(),
            "reason": "程序有误，撤回。",
        }
    return item


def write_synthetic(path: Path, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    today = date.today()
    with path.open("w", encoding="utf-8") as out:
        for number in range(1, count + 1):
            out.write(json.dumps(synthetic_item(rng, number, today), ensure_ascii=False) + "\n")
