"""Identifying data that hides where a fixed list of names does not look: Office properties
under other names, Excel's save folder, Word's editing ids, PDF comment times; and a receipt
that says which names of people were kept, never "nothing found" of a file that names them."""

from __future__ import annotations

import io
import zipfile

import pikepdf

from app.public.reports.words import NOTES, cleaning_words
from app.services.reports.cleaning import CleanState
from app.services.reports.cleaning_process import clean
from tests.helpers.bombs import MARKERS, marked_jpeg
from tests.services.reports.test_cleaning_embedded import assert_no_marker, everything_in

NOTHING_FOUND = "checked: no hidden data found"
REL = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/"
OFFICE_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"


def _package(parts: dict[str, str | bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()


def _all_parts(data: bytes) -> bytes:
    return b"\n".join(everything_in(data))


def test_properties_and_thumbnail_are_found_through_the_package_relationships():
    """meta/props.xml and docProps/thumb.jpeg, named in _rels/.rels: not the usual names."""
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{OFFICE_REL}officeDocument" Target="word/document.xml"/>'
        f'<Relationship Id="rId2" Type="{REL}core-properties" Target="meta/props.xml"/>'
        f"<Relationship Id='rId3' Type='{OFFICE_REL}extended-properties' Target='/meta/扩展.xml'/>"
        f'<Relationship Id="rId4" Type="{REL}thumbnail" Target="docProps/thumb.jpeg"/>'
        "</Relationships>"
    )
    docx = _package(
        {
            "_rels/.rels": rels,
            "word/document.xml": "<w:document>采购合同正文</w:document>",
            "meta/props.xml": "<cp:coreProperties><dc:creator>MarkAuthor 李四</dc:creator>"
            "</cp:coreProperties>",
            "meta/扩展.xml": "<Properties><Company>MarkModel 某某集团</Company></Properties>",
            "docProps/thumb.jpeg": marked_jpeg((32, 24)),
        }
    )
    result = clean(docx)
    assert result.cleaning.state == CleanState.cleaned
    assert {"core_properties", "app_properties", "gps", "exif"} <= set(result.cleaning.removed)
    assert_no_marker(result.data)
    assert "某某集团".encode() not in _all_parts(result.data)
    with zipfile.ZipFile(io.BytesIO(result.data)) as archive:
        assert archive.read("word/document.xml").decode() == "<w:document>采购合同正文</w:document>"


def test_a_picture_under_any_name_in_a_package_is_cleaned():
    docx = _package({"word/document.xml": "<w:document>正文</w:document>", "预览": marked_jpeg()})
    result = clean(docx)
    assert result.cleaning.state == CleanState.cleaned
    assert_no_marker(result.data)


def test_the_folder_a_workbook_was_saved_in_is_removed():
    path = "C:\\Users\\zhangwei\\Desktop\\张伟\\"
    workbook = (
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006">'
        '<fileVersion appName="xl"/><mc:AlternateContent><mc:Choice Requires="x15">'
        '<x15ac:absPath xmlns:x15ac="http://schemas.microsoft.com/office/spreadsheetml/2010/'
        f'11/ac" url="{path}"/>'
        '</mc:Choice></mc:AlternateContent><sheets><sheet name="账目" sheetId="1"/></sheets>'
        "</workbook>"
    )
    xlsx = _package({"xl/workbook.xml": workbook})
    result = clean(xlsx)
    assert result.cleaning.state == CleanState.cleaned
    assert "file_path" in result.cleaning.removed
    assert b"zhangwei" not in _all_parts(result.data)
    assert "张伟".encode() not in _all_parts(result.data)
    with zipfile.ZipFile(io.BytesIO(result.data)) as archive:
        kept = archive.read("xl/workbook.xml").decode()
    assert '<sheets><sheet name="账目" sheetId="1"/></sheets>' in kept
    assert "AlternateContent" not in kept
    assert NOTHING_FOUND not in cleaning_words(result.cleaning)


def test_words_editing_ids_are_removed():
    document = (
        '<w:document><w:body><w:p w:rsidR="00A1B2C3" w:rsidRDefault="00D4E5F6">'
        "<w:r><w:t>举报内容</w:t></w:r></w:p></w:body></w:document>"
    )
    settings = '<w:settings><w:rsids><w:rsidRoot w:val="00A1B2C3"/></w:rsids></w:settings>'
    docx = _package({"word/document.xml": document, "word/settings.xml": settings})
    result = clean(docx)
    assert result.cleaning.state == CleanState.cleaned
    assert "edit_ids" in result.cleaning.removed
    assert b"00A1B2C3" not in _all_parts(result.data)
    with zipfile.ZipFile(io.BytesIO(result.data)) as archive:
        assert "<w:t>举报内容</w:t>" in archive.read("word/document.xml").decode()


def _says_authors_kept(words: str) -> bool:
    return str(NOTES["authors_kept"]) in words and NOTHING_FOUND not in words


def test_comment_authors_kept_in_a_docx_are_said_to_be_kept():
    comments = '<w:comments><w:comment w:id="0" w:author="王芳"><w:p/></w:comment></w:comments>'
    docx = _package(
        {"word/document.xml": "<w:document>正文</w:document>", "word/comments.xml": comments}
    )
    result = clean(docx)
    assert ("authors_kept", "") in result.cleaning.notes
    assert _says_authors_kept(cleaning_words(result.cleaning))


def test_comment_authors_kept_in_a_pptx_are_said_to_be_kept():
    authors = '<p:cmAuthorLst><p:cmAuthor id="0" name="王芳" initials="WF"/></p:cmAuthorLst>'
    pptx = _package(
        {"ppt/presentation.xml": "<p:presentation/>", "ppt/commentAuthors.xml": authors}
    )
    result = clean(pptx)
    assert result.cleaning.state == CleanState.nothing_found
    assert _says_authors_kept(cleaning_words(result.cleaning))


def test_a_pdf_comment_loses_its_times_and_its_kept_author_is_said():
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(200, 200))
    note = pikepdf.Dictionary(
        Type=pikepdf.Name.Annot,
        Subtype=pikepdf.Name.Text,
        Rect=[10, 10, 30, 30],
        Contents=pikepdf.String("金额有误"),
        T=pikepdf.String("王芳"),
        M=pikepdf.String("D:20261201083000+08'00'"),
        CreationDate=pikepdf.String("D:20261130221500+08'00'"),
    )
    pdf.pages[0].Annots = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(note)]))
    out = io.BytesIO()
    pdf.save(out)
    result = clean(out.getvalue())
    assert result.cleaning.state == CleanState.cleaned
    assert "time" in result.cleaning.removed
    with pikepdf.open(io.BytesIO(result.data)) as cleaned:
        (kept,) = cleaned.pages[0].Annots
        assert "/M" not in kept and "/CreationDate" not in kept
        assert str(kept.T) == "王芳" and str(kept.Contents) == "金额有误"
    assert b"20261201" not in result.data and b"20261130" not in result.data
    assert _says_authors_kept(cleaning_words(result.cleaning))


def test_a_file_naming_no_one_is_still_checked_and_found_clean():
    docx = _package({"word/document.xml": "<w:document>正文</w:document>"})
    result = clean(docx)
    assert result.cleaning.state == CleanState.nothing_found
    assert cleaning_words(result.cleaning) == NOTHING_FOUND
    assert MARKERS  # the markers of the other tests are those of tests.helpers.bombs


def test_the_path_of_a_documents_template_keeps_only_its_file_name():
    template = "file:///C:\\Users\\zhangwei\\AppData\\Roaming\\Microsoft\\Templates\\公文.dotm"
    rels = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{OFFICE_REL}attachedTemplate" Target="{template}" '
        'TargetMode="External"/></Relationships>'
    )
    docx = _package(
        {"word/document.xml": "<w:document>正文</w:document>", "word/_rels/settings.xml.rels": rels}
    )
    result = clean(docx)
    assert "file_path" in result.cleaning.removed
    with zipfile.ZipFile(io.BytesIO(result.data)) as archive:
        kept = archive.read("word/_rels/settings.xml.rels").decode()
    assert 'Target="公文.dotm"' in kept and "zhangwei" not in kept
