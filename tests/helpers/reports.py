"""A realistic organisation for report tests: five levels of units, offices at three of them,
staff with keys whose private halves the tests keep, and helpers to submit and open reports.

    GRP     华夏能源集团有限公司        office: 2 inspectors, 1 head, recovery key
    ├ GRP-FIN   集团财务部              (no office)
    ├ MCH   华夏重型机械有限公司        office: 2 inspectors, 1 head (also inspector), recovery
    │ ├ MCH-PUR   采购部               (no office)
    │ └ MCH-F1  第一铸造分厂           office: 1 inspector, recovery
    │   └ MCH-F1-W1  熔炼车间          (no office)
    │     └ MCH-F1-W1-T1  熔炼一班     (no office)
    ├ CHM   华夏精细化工有限公司        office with a recovery key, its inspector has no key
    │ └ CHM-W1  合成车间
    └ LOG   华夏物流有限公司            office with a keyed inspector, no recovery key
      └ LOG-FLEET  运输车队
    ISL     独立核算单位                (a root without any office)

MCH also has a disabled inspector and a publisher, both with keys: neither may ever read.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.formparser import parse_form_data
from werkzeug.test import EnvironBuilder, stream_encode_multipart

from app.models import (
    DisciplineOffice,
    Report,
    Role,
    StaffRole,
    StaffUser,
    Unit,
    UnitKind,
)
from app.services.blobs import BlobStore, FilesystemBlobStore
from app.services.reports.submission import ReportFields
from app.services.reports.uploads import Upload, UploadBatch, UploadLimits
from crypto.keys import X25519Identity
from tests.helpers.weak_kdf import TEST_RECEIPT_VERSIONS

PEPPER = b"test-installation-pepper-0123456789"
PARAMS = TEST_RECEIPT_VERSIONS  # the receipt versions, cheap
TODAY = date(2026, 11, 30)

# code, parent, kind, Chinese name, office: None, or (recovery key?, inspectors with keys?)
UNITS = [
    ("GRP", None, UnitKind.enterprise, "华夏能源集团有限公司", (True, True)),
    ("GRP-FIN", "GRP", UnitKind.department, "集团财务部", None),
    ("MCH", "GRP", UnitKind.subsidiary, "华夏重型机械有限公司", (True, True)),
    ("MCH-PUR", "MCH", UnitKind.department, "采购部", None),
    ("MCH-F1", "MCH", UnitKind.subsidiary, "第一铸造分厂", (True, True)),
    ("MCH-F1-W1", "MCH-F1", UnitKind.workshop, "熔炼车间", None),
    ("MCH-F1-W1-T1", "MCH-F1-W1", UnitKind.workshop, "熔炼一班", None),
    ("CHM", "GRP", UnitKind.subsidiary, "华夏精细化工有限公司", (True, False)),
    ("CHM-W1", "CHM", UnitKind.workshop, "合成车间", None),
    ("LOG", "GRP", UnitKind.subsidiary, "华夏物流有限公司", (False, True)),
    ("LOG-FLEET", "LOG", UnitKind.workshop, "运输车队", None),
    ("ISL", None, UnitKind.enterprise, "独立核算单位", None),
]
# username, display name, office unit, roles, has a key, active
STAFF = [
    ("grp.insp1", "集团纪检员 陈静", "GRP", (Role.inspector,), True, True),
    ("grp.insp2", "集团纪检员 林峰", "GRP", (Role.inspector,), True, True),
    ("grp.head", "集团纪委书记 周强", "GRP", (Role.office_head,), True, True),
    ("mch.insp1", "机械纪检员 刘洋", "MCH", (Role.inspector,), True, True),
    ("mch.insp2", "机械纪检员 何丽", "MCH", (Role.inspector,), True, True),
    ("mch.head", "机械纪委书记 吴刚", "MCH", (Role.office_head, Role.inspector), True, True),
    ("mch.gone", "已离职纪检员 钱明", "MCH", (Role.inspector,), True, False),
    ("mch.publisher", "机械公开专员 赵磊", "MCH", (Role.publisher,), True, True),
    ("f1.insp", "分厂纪检员 孙涛", "MCH-F1", (Role.inspector,), True, True),
    ("chm.insp", "化工纪检员 郑洁", "CHM", (Role.inspector,), False, True),
    ("log.insp", "物流纪检员 冯军", "LOG", (Role.inspector,), True, True),
]


@dataclass
class Org:
    """The organisation's ids and the private keys the tests hold."""

    staff: dict[str, int] = field(default_factory=dict)  # username -> id
    keys: dict[str, X25519Identity] = field(default_factory=dict)  # username -> identity
    recovery: dict[str, X25519Identity] = field(default_factory=dict)  # office unit -> identity
    offices: dict[str, int] = field(default_factory=dict)  # office unit -> office id

    def all_identities(self) -> list[X25519Identity]:
        return [*self.keys.values(), *self.recovery.values()]


def build_org(session: Session) -> Org:
    org = Org()
    units: dict[str, Unit] = {}
    for code, parent, kind, name, office in UNITS:
        unit = Unit(code=code, name_zh=name, name_en=code, kind=kind, parent=units.get(parent))
        session.add(unit)
        units[code] = unit
        if office is not None:
            has_recovery, _ = office
            recovery = X25519Identity.generate()
            row = DisciplineOffice(
                unit=unit,
                name_zh=f"{name}纪委",
                name_en=f"{code} discipline office",
                recovery_recipient=str(recovery.recipient) if has_recovery else None,
            )
            session.add(row)
            if has_recovery:
                org.recovery[code] = recovery
    session.flush()
    for username, display, office_unit, roles, keyed, active in STAFF:
        identity = X25519Identity.generate()
        user = StaffUser(
            username=username,
            display_name=display,
            password_hash="!",
            totp_secret="A" * 32,
            unit=units[office_unit],
            office=units[office_unit].office,
            active=active,
            age_recipient=str(identity.recipient) if keyed else None,
        )
        user.role_rows = [StaffRole(role=role) for role in roles]
        session.add(user)
        session.flush()
        org.staff[username] = user.id
        if keyed:
            org.keys[username] = identity
    for code, unit in units.items():
        if unit.office is not None:
            org.offices[code] = unit.office.id
    return org


def office_code(session: Session, report_id: str) -> str:
    report = session.get(Report, report_id)
    assert report is not None
    return report.office.unit.code


def form(**changes) -> ReportFields:
    values = {
        "kind": "misconduct",
        "category": "procurement_bidding",
        "unit_code": "MCH-PUR",
        "level": "middle_manager",
        "persons": "采购部副部长 王某",
        "what": "2026年10月食堂食材采购中，王某指定供应商并收取回扣。",
        "when": "2026年10月",
        "where": "机械公司采购部办公室",
        "witnesses": "同部门职工两名",
    }
    values.update(changes)
    return ReportFields(**values)


def upload_files(
    blobs: FilesystemBlobStore,
    files: list[tuple[str, str, bytes]],
    limits: UploadLimits | None = None,
) -> list[Upload]:
    """Upload ``(name, content type, data)`` files through a batch, in parts as Werkzeug does."""
    batch = UploadBatch(blobs, limits)
    for name, content_type, data in files:
        upload = batch.stream_factory(None, content_type, name, None)
        view = memoryview(data)
        for start in range(0, len(data), 65_536):
            upload.write(view[start : start + 65_536])
        upload.seek(0)
    assert batch.refused is None, batch.refused
    return batch.finish()


def blob_store(app) -> BlobStore:
    """The app's blob store, as its settings make it: files on SQLite, PostgreSQL's tables on
    PostgreSQL (unbound: each blob a transaction of its own, outside a request)."""
    return app.extensions["portal.blobs"]


def reports(session: Session) -> list[Report]:
    return list(session.scalars(select(Report)))


def jpeg_bytes() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 24), "blue").save(out, "JPEG")
    return out.getvalue()


def post_multipart(batch: UploadBatch, files: dict, fields: dict | None = None):
    """Parse a multipart POST with Werkzeug, ``batch``'s stream factory receiving its files,
    as the public app's request class does.

    ``files``: field name -> (stream, name, content type), or a list of them; ``fields`` come
    after them in the body, as the name and contact come after the report form's files.
    Returns the form's fields and Werkzeug's files.
    """
    data: dict = {}
    for name, value in files.items():
        items = value if isinstance(value, list) else [value]
        data[name] = [FileStorage(f, n, content_type=t) for f, n, t in items]
    data.update(fields or {})
    # The body in memory: Werkzeug's test builder would spool a large one to a temporary file.
    body, length, boundary = stream_encode_multipart(data, use_tempfile=False)
    builder = EnvironBuilder(
        method="POST",
        input_stream=body,
        content_length=length,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    environ = builder.get_environ()
    builder.close()
    _stream, form, parsed = parse_form_data(environ, stream_factory=batch.stream_factory)
    return form, parsed


def read_upload(blobs: FilesystemBlobStore, upload: Upload) -> bytes:
    """What an upload stored, decrypted as an inspector would (a header made for a new key)."""
    from app.models import EnvelopeRole, ReportEnvelope
    from app.services.reports import envelopes
    from app.services.reports.places import Place

    reader = X25519Identity.generate()
    report_id = "5a" * 16
    place = Place(report_id, EnvelopeRole.attachment)
    row = ReportEnvelope(
        id="e0" * 16,
        report_id=report_id,
        role=EnvelopeRole.attachment,
        position=0,
        header=upload.payload.header([reader.recipient], place),
        blob_key=upload.blob_key,
        size=upload.payload.size,
    )
    return envelopes.read_bytes(blobs, row, [reader], 10**9)


def flip_byte(blobs: BlobStore, key: str, offset: int) -> None:
    """Change one bit of a stored blob at ``offset`` (damage on disk, or in the database's
    chunk rows), whichever store holds it."""
    from app.services.pg_blobs import CHUNK_BYTES, PostgresBlobStore

    if isinstance(blobs, PostgresBlobStore):
        seq, within = divmod(offset, CHUNK_BYTES)
        with blobs.engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE blob_chunks SET data = set_byte(data, :at, get_byte(data, :at) # 1)"
                    " WHERE key = :key AND seq = :seq"
                ),
                {"at": within, "key": key, "seq": seq},
            )
        return
    path = blobs.root / key[:2] / key  # type: ignore[attr-defined]
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def stored_blobs(app) -> dict[str, bytes]:
    """Every blob the app's store holds now, by key: the files under ``BLOB_PATH``, or the
    chunk rows of the PostgreSQL store (joined per key), as committed."""
    from app.models.blobs import BlobChunk
    from app.services.pg_blobs import PostgresBlobStore

    blobs = app.extensions["portal.blobs"]
    if isinstance(blobs, PostgresBlobStore):
        found: dict[str, bytes] = {}
        with blobs.engine.connect() as connection:
            for key, data in connection.execute(
                select(BlobChunk.key, BlobChunk.data).order_by(BlobChunk.key, BlobChunk.seq)
            ):
                found[key] = found.get(key, b"") + data
        return found
    root = Path(app.config["BLOB_PATH"])
    return {p.name: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
