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


# --- a faster seed: copies of imported items ------------------------------------------------


def replicate(database_url: str, target: int) -> int:
    """Copy the items ``portal disclosures import`` made until the instance holds ``target``.

    The import goes through the publishing services (about 100 items a second). Each copy is
    a set of rows of the same shape as its original's, written with ``INSERT ... SELECT``:
    the item, its steps, its revisions (new log indexes, leaf hashes recomputed from the
    copied revision, as the log would hash it) and its search index row. The caller signs a
    checkpoint over the grown log afterwards (``portal log checkpoint``). Returns how many
    items were copied.
    """
    from sqlalchemy import create_engine, select, text
    from sqlalchemy.orm import Session

    from app.models import Disclosure, DisclosureRevision, DisclosureStep
    from app.services import public_version
    from app.services.disclosures import log as disclosure_log
    from crypto import tlog
    from tests.helpers.environment import engine_url

    engine = create_engine(engine_url(database_url))
    sqlite = engine.dialect.name == "sqlite"

    def columns(model) -> list[str]:
        return [c.name for c in model.__table__.columns]

    def copy_sql(table: str, names: list[str], shifts: dict[str, str], where: str) -> str:
        selected = ", ".join(f"{n} + {shifts[n]}" if n in shifts else n for n in names)
        return (
            f"INSERT INTO {table} ({', '.join(names)}) SELECT {selected} FROM {table} WHERE {where}"
        )

    with Session(engine) as session:
        first, last = session.execute(
            text(
                "SELECT min(disclosure_id), max(disclosure_id) FROM disclosure_steps"
                " WHERE action = 'imported'"
            )
        ).one()
        if first is None:
            raise SystemExit("nothing imported to copy")
        total = session.scalar(select(text("count(*)")).select_from(Disclosure))
        width = last - first + 1
        r_first, r_last, l_first, l_last = session.execute(
            text(
                "SELECT min(id), max(id), min(log_index), max(log_index) FROM disclosure_revisions"
                " WHERE disclosure_id BETWEEN :a AND :b"
            ),
            {"a": first, "b": last},
        ).one()
        s_first, s_last = session.execute(
            text(
                "SELECT min(id), max(id) FROM disclosure_steps"
                " WHERE disclosure_id BETWEEN :a AND :b"
            ),
            {"a": first, "b": last},
        ).one()
        if (last, r_last, s_last) != session.execute(
            text(
                "SELECT (SELECT max(id) FROM disclosures),"
                " (SELECT max(id) FROM disclosure_revisions),"
                " (SELECT max(id) FROM disclosure_steps)"
            )
        ).one() or l_last + 1 != disclosure_log.log_size(session):
            raise SystemExit("the imported items are not the last rows: nothing copied")
        if sqlite:
            search = (
                "INSERT INTO disclosure_search (rowid, title, tokens, names) SELECT rowid + {d},"
                " title, tokens, names FROM disclosure_search WHERE rowid BETWEEN {a} AND {b}"
            )
        else:
            search = (
                "INSERT INTO disclosure_search (id, title, tokens, names, scope, unit_id,"
                " published_at) SELECT id + {d}, title, tokens, names, scope, unit_id,"
                " published_at FROM disclosure_search WHERE id BETWEEN {a} AND {b}"
            )
        copied = 0
        round_ = 0
        while total + copied < target:
            round_ += 1
            count = min(width, target - total - copied)
            a, b = first, first + count - 1
            d = round_ * width
            dr = round_ * (r_last - r_first + 1)
            dl = round_ * (l_last - l_first + 1)
            ds = round_ * (s_last - s_first + 1)
            where = f"id BETWEEN {a} AND {b}"
            session.execute(
                text(copy_sql("disclosures", columns(Disclosure), {"id": str(d)}, where))
            )
            by_item = f"disclosure_id BETWEEN {a} AND {b}"
            session.execute(
                text(
                    copy_sql(
                        "disclosure_steps", columns(DisclosureStep),
                        {"id": str(ds), "disclosure_id": str(d)}, by_item,
                    )
                )
            )  # fmt: skip
            session.execute(
                text(
                    copy_sql(
                        "disclosure_revisions", columns(DisclosureRevision),
                        {"id": str(dr), "disclosure_id": str(d), "log_index": str(dl)}, by_item,
                    )
                )
            )  # fmt: skip
            session.execute(text(search.format(d=d, a=a, b=b)))
            copied += count
        session.flush()
        # The copies' leaves: the hash of each copied revision's own record.
        revisions = session.scalars(
            select(DisclosureRevision).where(DisclosureRevision.id > r_last)
        ).all()
        for revision in revisions:
            revision.leaf_hash = tlog.leaf_hash(disclosure_log.canonical_record(revision)).hex()
        session.flush()
        if not sqlite:
            for table in ("disclosures", "disclosure_revisions", "disclosure_steps"):
                session.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f" (SELECT max(id) FROM {table}))"
                    )
                )
        public_version.bump(session)
        session.commit()
    with engine.begin() as conn:
        # Only the tables written: a bare ANALYZE would read every schema of the database.
        for table in ("disclosures", "disclosure_steps", "disclosure_revisions"):
            conn.execute(text(f"ANALYZE {table}"))
        if not sqlite:
            conn.execute(text("ANALYZE disclosure_search"))
        if sqlite:
            conn.execute(
                text("INSERT INTO disclosure_search (disclosure_search) VALUES ('optimize')")
            )
    engine.dispose()
    return copied
