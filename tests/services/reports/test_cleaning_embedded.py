"""Metadata where it hides: pictures inside PDFs and Office files, files attached to a PDF,
Office thumbnails. What is stored is decrypted and searched, decoded all the way down, for
each marker (GPS, camera make and model, artist, comments)."""

from __future__ import annotations

import io
import zipfile

import pikepdf
import pytest
from PIL import Image

from app.public.reports.words import cleaning_words
from app.services.blobs import FilesystemBlobStore
from app.services.reports.cleaning import CleanState
from tests.helpers.bombs import MARKERS, marked_jpeg
from tests.helpers.reports import read_upload, upload_files


@pytest.fixture
def store(tmp_path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs")


def marked_docx(extra: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document>采购合同正文</w:document>")
        archive.writestr("word/media/image1.jpeg", marked_jpeg())
        archive.writestr("docProps/thumbnail.jpeg", marked_jpeg((32, 24)))
        archive.writestr(
            "docProps/core.xml",
            "<cp:coreProperties><dc:creator>MarkAuthor 李四</dc:creator></cp:coreProperties>",
        )
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return out.getvalue()


def _file_spec(pdf: pikepdf.Pdf, name: str, data: bytes) -> pikepdf.Dictionary:
    stream = pikepdf.Stream(pdf, data)
    stream["/Type"] = pikepdf.Name.EmbeddedFile
    stream["/Params"] = pikepdf.Dictionary(ModDate=pikepdf.String("D:20261201083000+08'00'"))
    return pikepdf.Dictionary(
        Type=pikepdf.Name.Filespec,
        F=pikepdf.String(name),
        UF=pikepdf.String(name),
        EF=pikepdf.Dictionary(F=pdf.make_indirect(stream)),
    )


def marked_pdf() -> bytes:
    """A page showing a JPEG with EXIF, a .docx and a note attached to the document, and a
    photo attached to the page by a file attachment annotation."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(200, 200))
    page = pdf.pages[0]
    jpeg = marked_jpeg()
    image = pikepdf.Stream(pdf, jpeg)
    image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    image.Width, image.Height, image.BitsPerComponent = 64, 48, 8
    image.ColorSpace, image.Filter = pikepdf.Name.DeviceRGB, pikepdf.Name.DCTDecode
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
    page.Contents = pdf.make_stream(b"q 64 0 0 48 10 10 cm /Im0 Do Q")
    names = pikepdf.Array(
        [
            pikepdf.String("合同.docx"),
            _file_spec(pdf, "合同.docx", marked_docx()),
            pikepdf.String("说明.txt"),
            _file_spec(pdf, "说明.txt", "MarkComment 张三的评论".encode()),
        ]
    )
    pdf.Root.Names = pikepdf.Dictionary(EmbeddedFiles=pikepdf.Dictionary(Names=names))
    annotation = pikepdf.Dictionary(
        Type=pikepdf.Name.Annot,
        Subtype=pikepdf.Name.FileAttachment,
        Rect=[100, 100, 120, 120],
        FS=_file_spec(pdf, "现场照片.jpg", marked_jpeg()),
    )
    page.Annots = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(annotation)]))
    pdf.docinfo["/Author"] = "MarkAuthor 李四"
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def everything_in(data: bytes, depth: int = 0) -> list[bytes]:
    """``data`` and, decoded, every part of it: zip entries, PDF streams, recursively."""
    found = [data]
    if depth > 4:
        return found
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                found += everything_in(archive.read(name), depth + 1)
    elif data.startswith(b"%PDF"):
        with pikepdf.open(io.BytesIO(data)) as pdf:
            for obj in pdf.objects:
                if isinstance(obj, pikepdf.Stream):
                    try:
                        decoded = obj.read_bytes()
                    except pikepdf.PdfError:  # a JPEG: its bytes as they are
                        decoded = obj.read_raw_bytes()
                    found += everything_in(decoded, depth + 1)
    return found


def assert_no_marker(data: bytes) -> None:
    parts = everything_in(data)
    for what, marker in MARKERS.items():
        assert not any(marker in part for part in parts), f"{what} left"


def test_the_markers_are_found_before_cleaning():
    """The search below would see them: the files made here carry every marker."""
    for data in (marked_pdf(), marked_docx()):
        parts = everything_in(data)
        for marker in MARKERS.values():
            assert any(marker in part for part in parts)


def test_a_docx_loses_the_exif_of_its_pictures_and_thumbnail(store):
    (upload,) = upload_files(store, [("采购合同.docx", "application/msword", marked_docx())])
    stored = read_upload(store, upload)
    assert_no_marker(stored)
    assert upload.cleaning.state == CleanState.cleaned
    assert {"gps", "exif", "comment", "core_properties"} <= set(upload.cleaning.removed)
    assert ("embedded_cleaned", "image1.jpeg") in upload.cleaning.notes
    assert ("embedded_cleaned", "thumbnail.jpeg") in upload.cleaning.notes
    with zipfile.ZipFile(io.BytesIO(stored)) as archive:
        assert archive.read("word/document.xml").decode() == "<w:document>采购合同正文</w:document>"
        with Image.open(io.BytesIO(archive.read("word/media/image1.jpeg"))) as picture:
            assert picture.size == (64, 48)


def test_a_pdf_loses_image_exif_and_cleans_or_removes_its_attachments(store):
    (upload,) = upload_files(store, [("举报材料.pdf", "application/pdf", marked_pdf())])
    stored = read_upload(store, upload)
    assert_no_marker(stored)
    cleaning = upload.cleaning
    assert cleaning.state == CleanState.cleaned
    assert {"gps", "exif", "comment", "pdf_info", "core_properties"} <= set(cleaning.removed)
    assert ("embedded_cleaned", "合同.docx") in cleaning.notes
    assert ("embedded_cleaned", "现场照片.jpg") in cleaning.notes
    assert ("embedded_removed", "说明.txt") in cleaning.notes
    with pikepdf.open(io.BytesIO(stored)) as pdf:
        attached = pdf.attachments["合同.docx"].get_file().read_bytes()
        with zipfile.ZipFile(io.BytesIO(attached)) as archive:
            assert "采购合同正文" in archive.read("word/document.xml").decode()
        image = pdf.pages[0].Resources.XObject.Im0
        with Image.open(io.BytesIO(image.read_raw_bytes())) as picture:
            assert picture.size == (64, 48) and not picture.getexif()
    # The receipt says what was done, part by part, and no more.
    words = cleaning_words(cleaning)
    assert "合同.docx" in words and "现场照片.jpg" in words and "说明.txt" in words


def test_a_part_of_a_kind_not_cleaned_is_named_not_claimed(store):
    gif = io.BytesIO()
    Image.new("P", (8, 8)).save(gif, "GIF", comment=MARKERS["comment"])
    docx = marked_docx({"word/media/image2.gif": gif.getvalue()})
    (upload,) = upload_files(store, [("报告.docx", "application/msword", docx)])
    assert ("embedded_kept", "image2.gif") in upload.cleaning.notes
    words = cleaning_words(upload.cleaning)
    assert "image2.gif" in words


def test_past_fifty_parts_what_could_not_be_cleaned_is_still_counted(store):
    gif = io.BytesIO()
    Image.new("P", (8, 8)).save(gif, "GIF")
    docx = marked_docx({f"word/media/图{n}.gif": gif.getvalue() for n in range(60)})
    (upload,) = upload_files(store, [("图集.docx", "application/msword", docx)])
    notes = upload.cleaning.notes
    kept = [name for code, name in notes if code == "embedded_kept"]
    assert len(kept) == 50 and ("more_kept", "10") in notes
    assert all(code != "embedded_cleaned" for code, _name in notes)  # the names that count first
    assert "10" in cleaning_words(upload.cleaning)
