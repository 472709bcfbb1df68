"""The public site's header: one navigation on every page, and a language switch that keeps
the page, its search and its filters, and cannot be made to lead anywhere else."""

from html import unescape
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote

import pytest

NAV = ("首页", "公开事项", "公开目录", "核验", "举报", "查询进展")
PUBLIC_PAGES = [
    "/",
    "/disclosures/",
    "/disclosures/?category=procurement",
    "/disclosures/catalogue/",
    "/search?q=招标",
    "/log/",
    "/report/",
    "/report/new",
    "/report/follow-up",
]


class HeaderLinks(HTMLParser):
    """The links of the site header's navigation: (href, text), in order."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # inside <header class="site-header"> ... <nav>
        self.in_nav = False
        self.links: list[list[str]] = []
        self._href: str | None = None

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if tag == "header" and "site-header" in (found.get("class") or ""):
            self.depth = 1
        elif self.depth and tag == "nav":
            self.in_nav = True
        elif self.in_nav and tag == "a":
            self._href = found.get("href") or ""
            self.links.append([self._href, ""])

    def handle_data(self, data):
        if self._href is not None:
            self.links[-1][1] += data.strip()

    def handle_endtag(self, tag):
        if tag == "a":
            self._href = None
        elif tag == "nav":
            self.in_nav = False
        elif tag == "header":
            self.depth = 0


def header_links(page: str) -> list[list[str]]:
    parser = HeaderLinks()
    parser.feed(page)
    return parser.links


def switch_link(page: str) -> str:
    """The href of the language switch: the header's last link."""
    return header_links(page)[-1][0]


def test_every_public_page_has_the_same_header_navigation(demo, public_app):
    client = public_app.test_client()
    navigations = {}
    for path in PUBLIC_PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        # Without the language switch, whose link is the page's own.
        navigations[path] = header_links(response.get_data(as_text=True))[:-1]
    home = navigations["/"]
    assert [text for _href, text in home] == list(NAV)
    for path, links in navigations.items():
        assert links == home, f"{path} has another navigation: {links}"


def test_the_current_section_is_marked(demo, public_app):
    client = public_app.test_client()
    for path, current in [("/report/new", "举报"), ("/search?q=招标", None), ("/", "首页")]:
        page = client.get(path).get_data(as_text=True)
        marked = [text for text in NAV if f'aria-current="page">{text}</a>' in page]
        assert marked == ([current] if current else []), path


def test_switching_language_keeps_the_search_and_its_words(demo, public_app):
    client = public_app.test_client()
    page = client.get("/search?q=招标").get_data(as_text=True)
    href = unescape(switch_link(page))
    assert href.startswith("?")
    assert parse_qsl(href[1:]) == [("q", "招标"), ("lang", "en")]
    english = client.get("/search" + href).get_data(as_text=True)
    assert '<html lang="en">' in english
    assert 'value="招标"' in english  # the search box still holds the words
    back = unescape(switch_link(english))
    assert parse_qsl(back[1:]) == [("q", "招标"), ("lang", "zh")]


def test_switching_language_keeps_the_list_s_filters(demo, public_app):
    client = public_app.test_client()
    query = "category=procurement&unit=MCH&page=1"
    for _twice in range(2):  # the second answer may come from the page cache
        page = client.get(f"/disclosures/?{query}").get_data(as_text=True)
        href = unescape(switch_link(page))
        assert dict(parse_qsl(href[1:])) == {
            "category": "procurement",
            "unit": "MCH",
            "page": "1",
            "lang": "en",
        }
    english = client.get("/disclosures/" + href).get_data(as_text=True)
    assert '<html lang="en">' in english and "除尘设备采购" in english


def test_a_cached_page_s_switch_holds_only_what_its_cache_key_holds(demo, public_app):
    """A list page is cached under the query arguments it reads: a link carrying anything else
    would hand one visitor's query to the next visitor of the same cached page."""
    client = public_app.test_client()
    first = client.get("/disclosures/?category=procurement&from=%E9%82%AE%E4%BB%B6")
    second = public_app.test_client().get("/disclosures/?category=procurement")
    for response in (first, second):
        href = unescape(switch_link(response.get_data(as_text=True)))
        assert parse_qsl(href[1:]) == [("category", "procurement"), ("lang", "en")]


@pytest.mark.parametrize(
    "query",
    [
        "q=" + quote('"><script>alert(1)</script>'),
        "q=%0D%0ALocation:%20https://evil.example/&next=//evil.example",
        "q=" + quote("招标 & 采购 #1 ?x=/\\") + "&lang=en&lang=zh",
        "q=a&q=" + quote("多个值") + "&%E9%94%AE=%E5%80%BC",
    ],
)
def test_the_switch_stays_on_this_page_whatever_the_query(demo, public_app, query):
    client = public_app.test_client()
    response = client.get("/search?" + query)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    raw = switch_link(page)
    href = unescape(raw)
    # A reference made of a query only: same scheme, host and path, whatever it holds.
    assert href.startswith("?") and "#" not in href
    assert not any(c in href for c in "\r\n <>\"'\\")
    pairs = parse_qsl(href[1:], keep_blank_values=True)
    assert len([value for name, value in pairs if name == "lang"]) == 1
    expected = [(n, v) for n, v in parse_qsl(query, keep_blank_values=True) if n != "lang"]
    assert pairs[:-1] == expected
    assert "<script>alert(1)" not in page
    # Following it shows the same search in English, and sets no header from the query.
    followed = client.get("/search" + href)
    assert followed.status_code == 200 and "Location" not in followed.headers


def test_the_switch_on_an_error_page_stays_on_it_and_echoes_nothing(demo, public_app):
    response = public_app.test_client().get("/%2F%2Fevil.example/%E6%8B%9B?q=%E6%8B%9B%E6%A0%87")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert switch_link(page) == "?lang=en"
    assert "招标" not in page and "%E6%8B%9B" not in page
