"""Languages: Chinese by default, English by switch or browser; every UI string translated."""

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "app" / "translations" / "zh" / "LC_MESSAGES"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


def _extracted_ids() -> set[str]:
    method_map = [("app/**.py", "python"), ("app/templates/**.html", "jinja2")]
    ids = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=method_map, keywords=KEYWORDS
    ):
        ids.add(message[0] if isinstance(message, tuple) else message)
    return ids


def test_every_ui_string_has_a_chinese_translation():
    with (CATALOGUE / "messages.po").open("rb") as fh:
        catalogue = read_po(fh, locale="zh")
    translated = {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in catalogue if m.id}
    missing = sorted(i for i in _extracted_ids() if not translated.get(i))
    assert not missing, "untranslated (run `make i18n` and translate):\n" + "\n".join(missing)


def _tuple(value):
    return tuple(value) if isinstance(value, list) else value


def test_compiled_catalogue_matches_the_po_file():
    with (CATALOGUE / "messages.po").open("rb") as fh:
        po = {m.id: m.string for m in read_po(fh, locale="zh") if m.id and not m.fuzzy}
    with (CATALOGUE / "messages.mo").open("rb") as fh:
        # read_mo gives plural entries as lists, read_po as tuples.
        mo = {_tuple(m.id): _tuple(m.string) for m in read_mo(fh) if m.id}
    assert po == mo, "messages.mo is stale: run `make i18n`"


def test_chinese_is_the_default(public_app):
    page = public_app.test_client().get("/").get_data(as_text=True)
    assert '<html lang="zh-Hans">' in page
    assert "厂务党务公开平台" in page
    assert 'href="?lang=en"' in page


def test_switch_is_remembered_in_the_session(public_app):
    client = public_app.test_client()
    assert '<html lang="en">' in client.get("/?lang=en").get_data(as_text=True)
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in page and "Open affairs portal" in page
    assert 'href="?lang=zh"' in page
    assert '<html lang="zh-Hans">' in client.get("/?lang=zh").get_data(as_text=True)


def test_browser_language_is_honoured(public_app, console_app):
    for app, path in ((public_app, "/"), (console_app, "/login")):
        english = app.test_client().get(path, headers={"Accept-Language": "en-US,en;q=0.9"})
        assert '<html lang="en">' in english.get_data(as_text=True)
        chinese = app.test_client().get(path, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
        assert '<html lang="zh-Hans">' in chinese.get_data(as_text=True)


def test_unknown_language_falls_back_to_chinese(public_app):
    page = public_app.test_client().get("/?lang=fr", headers={"Accept-Language": "fr"})
    assert '<html lang="zh-Hans">' in page.get_data(as_text=True)
