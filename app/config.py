"""Configuration: defaults in code, then ``instance/config.toml``, then ``PORTAL_*`` variables.

Every value is checked once at start-up; a bad value stops the app with one clear line per
problem instead of failing later in a request.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import secrets
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from crypto import tlog
from crypto.errors import CryptoError

SURFACES = ("public", "console")
LANGUAGES = ("zh", "en")
MIN_SECRET_KEY_LENGTH = 32
DATABASE_SCHEMES = {"sqlite", "postgresql"}
# A name or an IPv4 address; ".example.internal" takes every sub-domain. (Werkzeug's host
# check, which Flask applies too, cannot match an IPv6 literal: use a name for those.)
HOST_NAME_RE = re.compile(r"^\.?[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1")
WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]", "*"}  # noqa: S104 (names, not binds)
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
LOG_ORIGIN_RE = re.compile(r"^[A-Za-z0-9.-]+(/[A-Za-z0-9._~-]+)*$")
RATELIMIT_SCHEMES = {"memory", "redis", "rediss", "redis+sentinel", "redis+cluster"}


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` lists every bad value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def defaults(instance_path: str) -> dict[str, Any]:
    """Settings that hold when neither config.toml nor the environment says otherwise."""
    return {
        "DATABASE_URL": "sqlite:///" + str(Path(instance_path) / "portal.sqlite3"),
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_DEFAULT": "600 per minute",
        "RATELIMIT_LOGIN": "10 per minute",
        # Failed sign-ins per account, whatever the addresses they come from.
        "RATELIMIT_LOGIN_ACCOUNT": "10 per hour",
        "RATELIMIT_HEADERS_ENABLED": False,
        # When Redis is unreachable, keep limiting per process instead of failing every page.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        # Counters in clock-aligned fixed windows: the other strategies keep each request's time.
        "RATELIMIT_STRATEGY": "fixed-window",
        # What the day's key of the rate-limit counters derives from (app/security/daily_key.py):
        # set in the environment of several machines that share Redis, else one per start.
        "RATELIMIT_SEED": None,
        # IPv6 clients are counted by the network of this many bits their address is in (a
        # host usually holds a whole /64); 128 counts each address apart.
        "RATELIMIT_IPV6_PREFIX": 64,
        "CONSOLE_ALLOW": [
            "127.0.0.0/8",
            "::1/128",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "fc00::/7",
        ],
        "TRUSTED_PROXIES": [],
        "HTTPS": False,
        "MAX_CONTENT_LENGTH": 32 * 1024 * 1024,
        "PUBLIC_BIND": "127.0.0.1:8000",
        "CONSOLE_BIND": "127.0.0.1:8001",
        # Worker processes per app: 2 when rate limits are counted in Redis, else 1 (each
        # process would count apart in memory and let its own share through).
        "WORKERS": None,
        # Threads per worker. A request body holds one while it arrives: at most BODY_READS
        # of them at once (half the threads when unset), each from a client (IPv4 address,
        # IPv6 /64) at most BODY_READS_PER_CLIENT at once, and each cut when it arrives
        # slower than BODY_MIN_BYTES_PER_SECOND after BODY_GRACE_SECONDS
        # (app/security/body_reads.py).
        "THREADS": 16,
        "BODY_READS": None,
        # Code entries per process that may wait for a receipt code's derivation at once (a
        # quarter of THREADS by default): past it a code is answered "busy" at once, so a
        # flood of codes cannot hold the threads the pages need.
        "CODE_DERIVATIONS": None,
        # Console password derivations per process at once (sign-in, enrolment, password
        # change; each scrypt takes ~256 MiB and a core for a second or more): half the cores
        # by default. Past it a form waits a moment, then is answered "busy" (503).
        "PASSWORD_DERIVATIONS": None,
        "BODY_READS_PER_CLIENT": 2,
        "BODY_MIN_BYTES_PER_SECOND": 1024,
        "BODY_GRACE_SECONDS": 10,
        "PUBLIC_ACCESS_LOG": "",
        "CONSOLE_ACCESS_LOG": "-",
        "DEMO": False,
        "BABEL_DEFAULT_LOCALE": "zh",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "WTF_CSRF_TIME_LIMIT": 3600,
        "PUBLIC_SECRET_KEY": None,
        "CONSOLE_SECRET_KEY": None,
        "RECEIPT_PEPPER": None,  # 32 characters or more; else instance/secrets/receipt.pepper
        "SESSION_LIFETIME_MINUTES": 30,
        # A console session ends after this long without a request, and this long after its
        # sign-in whatever it does (app/services/sessions.py).
        "CONSOLE_IDLE_MINUTES": 30,
        "CONSOLE_MAX_HOURS": 8,
        # An enrolment code (portal user add / reset) works this long.
        "ENROLMENT_HOURS": 72,
        # portal run and portal serve run the periodic jobs (app/services/jobs.py) this often.
        "JOBS_EVERY_SECONDS": 30,
        # Disclosures
        "READER_HEADER": "",  # e.g. X-Remote-User; empty: readers are never identified
        "READER_UNIT_HEADER": "X-Remote-Unit",
        "READER_PARTY_HEADER": "X-Remote-Party",
        "ATTACHMENT_MAX_BYTES": 20 * 1024 * 1024,
        "BLOB_PATH": str(Path(instance_path) / "blobs"),
        # Where report and attachment payloads are kept: "filesystem" (BLOB_PATH) or
        # "postgresql" (tables of the database itself). Empty: PostgreSQL's own tables when
        # the database is PostgreSQL, else the filesystem (validate()).
        "BLOB_STORE": "",
        "LOG_KEY_FILE": str(Path(instance_path) / "keys" / "disclosure-log.key"),
        "LOG_ORIGIN": "portal.example.internal/disclosures",
        # The staff audit trail: a second log with its own key and name, held by the console
        # and the portal command only (the public app holds nothing of it).
        "AUDIT_LOG_KEY_FILE": str(Path(instance_path) / "keys" / "audit-log.key"),
        "AUDIT_LOG_ORIGIN": "portal.example.internal/audit",
        "PUBLIC_BASE_URL": "",  # e.g. https://portal.example.internal (QR codes, feeds)
        # Host names both sites answer to besides loopback, the base URL's and the binds'
        # (e.g. the console's name on the office network); any other Host header gets 400.
        "ALLOWED_HOSTS": [],
        # The log's public key for a public app on another machine (``portal log key``).
        "LOG_VKEY": "",
        "PAGE_SIZE": 20,
        "RATELIMIT_QUESTIONS": "5 per hour",
        # The share of a meeting's members that must be present for a "three importants and
        # one large" decision record to be published: ">1/2" more than half, ">=2/3" at least
        # two thirds.
        "DECISION_QUORUM": ">1/2",
        # Anonymous reports
        "REPORT_MAX_FILES": 10,
        "REPORT_MAX_BYTES": 100 * 1024 * 1024,  # all files of one report or reply
        # All the files of the replies to one report in a (UTC) day together.
        "REPORT_REPLY_MAX_BYTES_PER_DAY": 100 * 1024 * 1024,
        # Files up to this size are held in memory to remove their metadata; larger ones are
        # encrypted as they arrive and stored as sent (the reporter is told).
        "REPORT_CLEAN_MAX_BYTES": 16 * 1024 * 1024,
        # Cases: the dates owed to reporters (app/services/cases/deadlines.py), and the
        # official calendar's holidays and make-up workdays of any year the chinese-calendar
        # package does not know or gets wrong: {"2027": {"holidays": ["2027-01-01", ...],
        # "workdays": ["2027-02-07", ...]}}; a year given here replaces the package's.
        "CASE_ACKNOWLEDGE_DAYS": 7,
        "CASE_FEEDBACK_MONTHS": 3,
        "CASE_NOTICE_WORKING_DAYS": 15,
        "CASE_DUE_SOON_DAYS": 5,
        # Members who must confirm a disposal decision together.
        "CASE_DECISION_MEMBERS": 2,
        "WORK_CALENDAR": {},
        "FOLLOWUP_IDLE_MINUTES": 15,
        # However busy, a follow-up session ends this long after the code was entered.
        "FOLLOWUP_LIFETIME_MINUTES": 120,
        # Forms sent back and notices waiting for their page, from everyone, per two minutes
        # (what waits is at most twice this): a flood of refused forms cannot fill Redis.
        "REPORT_HANDOVER_MAX_BYTES": 32 * 1024 * 1024,
        # Processes that derive receipt codes side by side (public app): one per core.
        "REPORT_KDF_PROCESSES": os.cpu_count() or 1,
        # Per client (a keyed hash of its address or IPv6 network): reports stored, and
        # forms whose files were read.
        "RATELIMIT_REPORTS": "5 per hour",
        # Proof of work: zero bits asked of SHA-256 (16: ~65,000 hashes, well under a second
        # in a phone's browser), one more each time this hour's reports double past the step.
        "REPORT_POW_BITS": 16,
        "REPORT_POW_STEP": 50,
        # Without script: a form counts this many minutes after its page was opened, and
        # once; the wait doubles each time this hour's such forms double past the step.
        "REPORT_NOSCRIPT_WAIT_MINUTES": 2,
        "REPORT_NOSCRIPT_STEP": 30,
        "RATELIMIT_RECEIPTS": "10 per hour",  # receipt codes tried, per client
        # Codes tried by everyone together past which each code needs the proof of work (or,
        # without script, a page opened some minutes before).
        "RATELIMIT_RECEIPTS_ALL": "1000 per hour",
        "RATELIMIT_REPLIES": "20 per hour",
        # Whole public pages cached per process (see app/public/page_cache.py).
        "PAGE_CACHE_ENTRIES": 2000,
        "PAGE_CACHE_BYTES": 64 * 1024 * 1024,
        # The daily digest (app/services/digest.py): at this hour where the enterprise is,
        # each inspector and office head gets one message; case links start with the
        # console's address, e.g. https://console.example.internal (none: references only).
        "DIGEST_HOUR": 7,
        "CONSOLE_URL": "",
        # The mail server the digest goes through; no host: no mail is sent and the digests
        # wait in the console's outbox. STARTTLS is required unless turned off for a relay on
        # this machine; SMTP_CA_FILE trusts a private CA besides the system's.
        "SMTP_HOST": "",
        "SMTP_PORT": 587,
        "SMTP_USERNAME": "",
        "SMTP_PASSWORD": "",
        "SMTP_FROM": "",
        "SMTP_STARTTLS": True,
        "SMTP_TIMEOUT": 30,
        "SMTP_CA_FILE": "",
        # Concluded cases are purged this many whole years after their conclusion (1 to 100),
        # unless the console's retention page sets a period for their category
        # (app/services/reports/retention.py).
        "RETENTION_YEARS": 5,
    }


def load(app_config: Any, instance_path: str, test_config: dict[str, Any] | None) -> None:
    """Fill ``app_config`` in the documented order: defaults, file, environment, tests."""
    app_config.update(defaults(instance_path))
    config_file = Path(instance_path) / "config.toml"
    if config_file.exists():
        try:
            with config_file.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{config_file}: not valid TOML ({exc})"]) from None
        app_config.update({k.upper(): v for k, v in data.items()})
    app_config.from_prefixed_env("PORTAL")
    if test_config:
        app_config.update(test_config)


def ensure_secret_keys(app_config: Any, instance_path: str) -> None:
    """Give each surface its own secret key, generating ``instance/secrets/*.key`` once.

    Keys set in config.toml or the environment win; several machines behind one load
    balancer must share them that way.
    """
    secrets_dir = Path(instance_path) / "secrets"
    # The receipt pepper: the secret input of every receipt code's derivation. Without it a
    # stolen database cannot be searched for codes. Machines serving one database share it.
    names = [(f"{s.upper()}_SECRET_KEY", f"{s}.key") for s in SURFACES]
    for name, file_name in [*names, ("RECEIPT_PEPPER", "receipt.pepper")]:
        if app_config.get(name):
            continue
        key_file = secrets_dir / file_name
        if not key_file.exists():
            secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first: use theirs
                pass
            else:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_urlsafe(48))
                    fh.flush()
                    os.fsync(fh.fileno())
        app_config[name] = key_file.read_text().strip()


def _addresses(app_config: Any) -> list[tuple[str, str]]:
    """(host, port) of the public base URL and of both binds; port "" where none is given."""
    base_url = str(app_config.get("PUBLIC_BASE_URL") or "")
    netlocs = [urlsplit(base_url).netloc.rpartition("@")[2]] if base_url else []
    netlocs += [str(app_config.get(name) or "") for name in ("PUBLIC_BIND", "CONSOLE_BIND")]
    found = []
    for netloc in netlocs:
        if netloc.startswith("["):  # IPv6: its host is left out by trusted_hosts
            host, _, port = netloc[1:].partition("]")
            found.append(("[" + host + "]", port.removeprefix(":")))
        else:
            host, _, port = netloc.partition(":")
            found.append((host, port))
    return found


def trusted_hosts(app_config: Any) -> list[str]:
    """Host names the sites answer to: loopback (``portal run``), the public base URL's,
    the binds' (unless they listen on every address) and ``ALLOWED_HOSTS``."""
    hosts = list(LOOPBACK_HOSTS) + [host for host, _port in _addresses(app_config)]
    hosts += app_config.get("ALLOWED_HOSTS") or []
    found: list[str] = []
    for host in hosts:
        dot, name = ("." if host.startswith(".") else ""), host.removeprefix(".")
        try:
            host = dot + name.encode("idna").decode("ascii").lower()
        except UnicodeError:
            continue
        if HOST_NAME_RE.match(host) and host not in WILDCARD_HOSTS and host not in found:
            found.append(host)
    return found


def trusted_ports(app_config: Any) -> list[str]:
    """Ports a Host header may name: the binds', the public base URL's, 80 and 443.

    Any other port would be a made-up name for the same site (and a page cache key).
    """
    ports = {"80", "443"} | {port for _host, port in _addresses(app_config)}
    return sorted((port for port in ports if port.isdigit()), key=int)


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(part).strip() for part in value]
    return [str(value)]


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in {
        "1",
        "true",
        "yes",
        "on",
        "0",
        "false",
        "no",
        "off",
    }:
        return value.lower() in {"1", "true", "yes", "on"}
    return None


def _networks(name: str, value: Any, problems: list[str]) -> list[ipaddress._BaseNetwork]:
    networks = []
    for item in _as_list(value):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            problems.append(f"{name}: {item!r} is not an IP address or CIDR network")
    return networks


# Past this, a count or a size is a typing mistake (and no database column holds it).
MAX_SETTING = 2**53


def _positive_int(name: str, value: Any, problems: list[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SETTING:
        problems.append(
            f"{name}: must be a positive whole number up to {MAX_SETTING}, got {value!r}"
        )
        return 1
    return value


def validate(app_config: Any) -> None:
    """Check and normalise every setting; raise ConfigError listing all problems."""
    problems: list[str] = []

    for surface in SURFACES:
        name = f"{surface.upper()}_SECRET_KEY"
        key = app_config.get(name) or ""
        if not isinstance(key, str) or len(key) < MIN_SECRET_KEY_LENGTH:
            problems.append(
                f"PORTAL_{name}: must be at least {MIN_SECRET_KEY_LENGTH} characters "
                "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
    pepper = app_config.get("RECEIPT_PEPPER") or ""
    if not isinstance(pepper, str) or len(pepper) < MIN_SECRET_KEY_LENGTH:
        problems.append(
            f"PORTAL_RECEIPT_PEPPER: must be at least {MIN_SECRET_KEY_LENGTH} characters, and "
            "the same on every machine that serves one database"
        )
    if app_config.get("PUBLIC_SECRET_KEY") and app_config.get(
        "PUBLIC_SECRET_KEY"
    ) == app_config.get("CONSOLE_SECRET_KEY"):
        problems.append("PORTAL_PUBLIC_SECRET_KEY and PORTAL_CONSOLE_SECRET_KEY must differ")

    url_text = str(app_config.get("DATABASE_URL") or "")
    try:
        url = make_url(url_text)
    except ArgumentError:
        problems.append(f"PORTAL_DATABASE_URL: {url_text!r} is not a database URL")
    else:
        backend = url.get_backend_name()
        if backend not in DATABASE_SCHEMES:
            problems.append(
                f"PORTAL_DATABASE_URL: unknown scheme {url.drivername!r}; "
                "use sqlite:///path or postgresql://user@host/db"
            )
        elif backend == "postgresql":
            if url.drivername not in ("postgresql", "postgresql+psycopg"):
                problems.append("PORTAL_DATABASE_URL: PostgreSQL is used through psycopg 3")
            app_config["DATABASE_URL"] = url.set(drivername="postgresql+psycopg").render_as_string(
                hide_password=False
            )

    _validate_blob_store(app_config, problems)

    storage = str(app_config.get("RATELIMIT_STORAGE_URI") or "")
    scheme = storage.split("://", 1)[0] if "://" in storage else ""
    if scheme not in RATELIMIT_SCHEMES:
        problems.append(
            f"PORTAL_RATELIMIT_STORAGE_URI: {storage!r} is not supported; "
            "use memory:// or redis://host:port/db"
        )
    if app_config.get("RATELIMIT_STRATEGY") != "fixed-window":
        problems.append(
            "PORTAL_RATELIMIT_STRATEGY: only fixed-window; the other strategies keep the time "
            "of each request in the rate-limit storage"
        )
    seed = app_config.get("RATELIMIT_SEED")
    if seed is not None and (not isinstance(seed, str) or len(seed) < MIN_SECRET_KEY_LENGTH):
        problems.append(
            f"PORTAL_RATELIMIT_SEED: must be at least {MIN_SECRET_KEY_LENGTH} characters "
            "(or unset: each server start draws its own)"
        )

    prefix = app_config.get("RATELIMIT_IPV6_PREFIX")
    if isinstance(prefix, str) and prefix.isdigit():
        prefix = int(prefix)
    if isinstance(prefix, bool) or not isinstance(prefix, int) or not 16 <= prefix <= 128:
        problems.append(
            f"PORTAL_RATELIMIT_IPV6_PREFIX: must be a prefix length from 16 to 128, got {prefix!r}"
        )
    else:
        app_config["RATELIMIT_IPV6_PREFIX"] = prefix

    app_config["CONSOLE_ALLOW"] = _networks(
        "PORTAL_CONSOLE_ALLOW", app_config["CONSOLE_ALLOW"], problems
    )
    app_config["TRUSTED_PROXIES"] = _networks(
        "PORTAL_TRUSTED_PROXIES", app_config["TRUSTED_PROXIES"], problems
    )

    for name in ("HTTPS", "DEMO"):
        flag = _as_bool(app_config.get(name))
        if flag is None:
            problems.append(f"PORTAL_{name}: must be 1 or 0, got {app_config.get(name)!r}")
        else:
            app_config[name] = flag

    if app_config.get("WORKERS") is None:
        app_config["WORKERS"] = 1 if storage.startswith("memory://") else 2
    if app_config.get("BODY_READS") is None and isinstance(app_config.get("THREADS"), int):
        app_config["BODY_READS"] = max(app_config["THREADS"] // 2, 1)
    if app_config.get("CODE_DERIVATIONS") is None and isinstance(app_config.get("THREADS"), int):
        app_config["CODE_DERIVATIONS"] = max(app_config["THREADS"] // 4, 1)
    if app_config.get("PASSWORD_DERIVATIONS") is None:
        app_config["PASSWORD_DERIVATIONS"] = max((os.cpu_count() or 1) // 2, 1)
    for name in (
        "MAX_CONTENT_LENGTH",
        "WORKERS",
        "THREADS",
        "BODY_READS",
        "CODE_DERIVATIONS",
        "PASSWORD_DERIVATIONS",
        "BODY_READS_PER_CLIENT",
        "BODY_MIN_BYTES_PER_SECOND",
        "BODY_GRACE_SECONDS",
        "SESSION_LIFETIME_MINUTES",
        "CONSOLE_IDLE_MINUTES",
        "CONSOLE_MAX_HOURS",
        "ENROLMENT_HOURS",
        "JOBS_EVERY_SECONDS",
        "ATTACHMENT_MAX_BYTES",
        "PAGE_SIZE",
        "PAGE_CACHE_ENTRIES",
        "PAGE_CACHE_BYTES",
        "REPORT_MAX_FILES",
        "REPORT_MAX_BYTES",
        "REPORT_REPLY_MAX_BYTES_PER_DAY",
        "REPORT_CLEAN_MAX_BYTES",
        "FOLLOWUP_IDLE_MINUTES",
        "FOLLOWUP_LIFETIME_MINUTES",
        "CASE_ACKNOWLEDGE_DAYS",
        "CASE_FEEDBACK_MONTHS",
        "CASE_NOTICE_WORKING_DAYS",
        "CASE_DUE_SOON_DAYS",
        "REPORT_HANDOVER_MAX_BYTES",
        "REPORT_POW_BITS",
        "REPORT_POW_STEP",
        "REPORT_NOSCRIPT_STEP",
    ):
        app_config[name] = _positive_int(f"PORTAL_{name}", app_config.get(name), problems)
    members = app_config.get("CASE_DECISION_MEMBERS")
    if isinstance(members, bool) or not isinstance(members, int) or not 2 <= members <= 20:
        problems.append(
            "PORTAL_CASE_DECISION_MEMBERS: a decision is taken by 2 to 20 members together, "
            f"got {members!r}"
        )
    # Imported here: the models alone (app.models, imported with this package) load no service.
    from app.services.cases.calendar import WorkCalendar
    from app.services.disclosures.decisions import Quorum

    try:
        Quorum.parse(app_config.get("DECISION_QUORUM"))
    except ValueError as exc:
        problems.append(f"PORTAL_DECISION_QUORUM: {exc}")

    try:
        WorkCalendar.from_config(app_config.get("WORK_CALENDAR"))
    except ValueError as exc:
        problems.append(f"PORTAL_WORK_CALENDAR: {exc}")
    wait = app_config.get("REPORT_NOSCRIPT_WAIT_MINUTES")
    if isinstance(wait, bool) or not isinstance(wait, int) or not 0 <= wait <= 60:
        problems.append(
            "PORTAL_REPORT_NOSCRIPT_WAIT_MINUTES: must be a whole number from 0 to 60, "
            f"got {wait!r}"
        )
    for name in ("RATELIMIT_REPORTS_ALL", "RATELIMIT_REPORTS_NOSCRIPT_ALL"):
        if name in app_config:
            problems.append(
                f"PORTAL_{name}: no longer used; a flood of reports now raises the proof of "
                "work and the wait without script (PORTAL_REPORT_POW_STEP, "
                "PORTAL_REPORT_NOSCRIPT_STEP) instead of refusing everyone: remove it"
            )
    # 0: derive receipts in the server's own process (tests).
    processes = app_config.get("REPORT_KDF_PROCESSES")
    if processes != 0:
        processes = _positive_int("PORTAL_REPORT_KDF_PROCESSES", processes, problems)
        if processes > 256:
            problems.append("PORTAL_REPORT_KDF_PROCESSES: at most 256")
    app_config["REPORT_KDF_PROCESSES"] = processes

    for name in ("PUBLIC_BIND", "CONSOLE_BIND"):
        bind = str(app_config.get(name) or "")
        host, _, port = bind.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            problems.append(f"PORTAL_{name}: must be host:port, got {bind!r}")

    for name in ("READER_HEADER", "READER_UNIT_HEADER", "READER_PARTY_HEADER"):
        value = app_config.get(name)
        if not isinstance(value, str) or (value and not HEADER_NAME_RE.match(value)):
            problems.append(f"PORTAL_{name}: must be an HTTP header name, got {value!r}")
    if app_config.get("READER_HEADER") and not app_config["TRUSTED_PROXIES"]:
        problems.append(
            "PORTAL_READER_HEADER: set PORTAL_TRUSTED_PROXIES too; the header is believed "
            "only from those proxies"
        )
    origin = app_config.get("LOG_ORIGIN")
    if not isinstance(origin, str) or not LOG_ORIGIN_RE.match(origin):
        problems.append(
            f"PORTAL_LOG_ORIGIN: must be a log name like host/path without scheme, got {origin!r}"
        )
    audit_origin = app_config.get("AUDIT_LOG_ORIGIN")
    if not isinstance(audit_origin, str) or not LOG_ORIGIN_RE.match(audit_origin):
        problems.append(
            "PORTAL_AUDIT_LOG_ORIGIN: must be a log name like host/path without scheme, "
            f"got {audit_origin!r}"
        )
    elif audit_origin == origin:
        problems.append("PORTAL_AUDIT_LOG_ORIGIN: must differ from PORTAL_LOG_ORIGIN")
    if str(app_config.get("AUDIT_LOG_KEY_FILE")) == str(app_config.get("LOG_KEY_FILE")):
        problems.append("PORTAL_AUDIT_LOG_KEY_FILE: must differ from PORTAL_LOG_KEY_FILE")
    if vkey := app_config.get("LOG_VKEY"):
        try:
            tlog.Verifier.from_vkey(vkey)
        except CryptoError:
            problems.append("PORTAL_LOG_VKEY: must be the log's key as `portal log key` prints it")
    base_url = app_config.get("PUBLIC_BASE_URL") or ""
    if base_url and not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", str(base_url)):
        problems.append(f"PORTAL_PUBLIC_BASE_URL: must be an http(s) URL, got {base_url!r}")
    app_config["PUBLIC_BASE_URL"] = str(base_url).rstrip("/")

    app_config["ALLOWED_HOSTS"] = _as_list(app_config.get("ALLOWED_HOSTS") or [])
    for host in app_config["ALLOWED_HOSTS"]:
        if not HOST_NAME_RE.match(host):
            problems.append(f"PORTAL_ALLOWED_HOSTS: {host!r} is not a host name")
    app_config["TRUSTED_HOSTS"] = trusted_hosts(app_config)
    app_config["TRUSTED_PORTS"] = trusted_ports(app_config)

    _validate_digest(app_config, problems)
    app_config["RETENTION_YEARS"] = _whole_number(
        "RETENTION_YEARS", app_config.get("RETENTION_YEARS"), 1, 100, problems
    )

    if app_config.get("BABEL_DEFAULT_LOCALE") not in LANGUAGES:
        problems.append(f"PORTAL_BABEL_DEFAULT_LOCALE: must be one of {', '.join(LANGUAGES)}")

    if problems:
        raise ConfigError(problems)


BLOB_STORES = ("filesystem", "postgresql")


def _validate_blob_store(app_config: Any, problems: list[str]) -> None:
    """BLOB_STORE: filesystem or postgresql; by default PostgreSQL's own tables when the
    database is PostgreSQL, so that every server sharing it reads every file."""
    chosen = str(app_config.get("BLOB_STORE") or "").strip().lower()
    on_postgresql = str(app_config.get("DATABASE_URL") or "").startswith("postgresql")
    if not chosen:
        chosen = "postgresql" if on_postgresql else "filesystem"
    if chosen not in BLOB_STORES:
        problems.append(
            f"PORTAL_BLOB_STORE: {app_config.get('BLOB_STORE')!r} is not a blob store; "
            "use filesystem or postgresql"
        )
        return
    if chosen == "postgresql" and not on_postgresql:
        problems.append(
            "PORTAL_BLOB_STORE: postgresql keeps files in the database, which must then be "
            "PostgreSQL (PORTAL_DATABASE_URL=postgresql://...); use filesystem with SQLite"
        )
        return
    app_config["BLOB_STORE"] = chosen


def _whole_number(name: str, value: Any, low: int, high: int, problems: list[str]) -> int:
    if isinstance(value, str) and value.strip().isdecimal():  # int() reads every such digit
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(
            f"PORTAL_{name}: must be a whole number from {low} to {high}, got {value!r}"
        )
        return low
    return value


def _validate_digest(app_config: Any, problems: list[str]) -> None:
    """The daily digest's hour, the console's address and the mail server."""
    app_config["DIGEST_HOUR"] = _whole_number(
        "DIGEST_HOUR", app_config.get("DIGEST_HOUR"), 0, 23, problems
    )
    console_url = str(app_config.get("CONSOLE_URL") or "")
    if console_url and not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", console_url):
        problems.append(f"PORTAL_CONSOLE_URL: must be an http(s) URL, got {console_url!r}")
    app_config["CONSOLE_URL"] = console_url.rstrip("/")

    for name in ("SMTP_HOST", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_FROM", "SMTP_CA_FILE"):
        value = app_config.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            problems.append(f"PORTAL_{name}: must be one line of text")
            value = ""
        app_config[name] = value.strip() if name != "SMTP_PASSWORD" else value
    host = app_config["SMTP_HOST"]
    app_config["SMTP_PORT"] = _whole_number(
        "SMTP_PORT", app_config.get("SMTP_PORT"), 1, 65535, problems
    )
    timeout = app_config.get("SMTP_TIMEOUT")
    if isinstance(timeout, str):
        with contextlib.suppress(ValueError):
            timeout = float(timeout)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        problems.append(
            f"PORTAL_SMTP_TIMEOUT: must be seconds above 0, at most 300, got {timeout!r}"
        )
        timeout = 30
    app_config["SMTP_TIMEOUT"] = float(timeout)
    starttls = _as_bool(app_config.get("SMTP_STARTTLS"))
    if starttls is None:
        problems.append(
            f"PORTAL_SMTP_STARTTLS: must be 1 or 0, got {app_config.get('SMTP_STARTTLS')!r}"
        )
        starttls = True
    app_config["SMTP_STARTTLS"] = starttls
    if not host:
        return
    if not HOST_NAME_RE.match(host):
        problems.append(f"PORTAL_SMTP_HOST: {host!r} is not a host name or IPv4 address")
    from app.services.staff import EMAIL_RE  # the one pattern, shared with staff addresses

    sender = app_config["SMTP_FROM"]
    if not sender:
        problems.append("PORTAL_SMTP_FROM: set the address the digest is sent from")
    elif not EMAIL_RE.match(sender):
        problems.append(f"PORTAL_SMTP_FROM: {sender!r} is not an e-mail address")
    if not starttls and host not in LOOPBACK_HOSTS:
        problems.append(
            "PORTAL_SMTP_STARTTLS: may be turned off only for a mail relay on this machine "
            "(localhost); the digest crosses the network encrypted"
        )
    if bool(app_config["SMTP_USERNAME"]) != bool(app_config["SMTP_PASSWORD"]):
        problems.append("PORTAL_SMTP_USERNAME and PORTAL_SMTP_PASSWORD: give both or neither")
    ca_file = app_config["SMTP_CA_FILE"]
    if ca_file and not Path(ca_file).is_file():
        problems.append(f"PORTAL_SMTP_CA_FILE: no such file {ca_file!r}")
