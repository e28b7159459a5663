"""Build small PDFs with exactly known layout, for tests and benchmarks.

Lines are placed one by one with reportlab's canvas, so a test knows precisely which
words sit at a line end, which lines are headers and footers, and where a column or a
table begins.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

WIDTH, HEIGHT = A4
LEFT, RIGHT = 72, WIDTH - 72
BODY, LEADING, PARA_GAP = 10, 12.5, 9


@dataclass
class Heading:
    text: str
    size: int = 13


@dataclass
class Para:
    lines: list[str]


@dataclass
class Columns:
    left: list[Para]
    right: list[Para]


@dataclass
class Table:
    rows: list[list[str]]
    widths: list[float] = field(default_factory=list)


@dataclass
class Title:
    text: str
    size: int = 20


def build_pdf(path: Path, pages: list[list], header: str | None = None, footer: str | None = "Page {n} of {total}",
              title: str = "", encrypt: str | None = None) -> Path:
    """Write `pages` (lists of Title/Heading/Para/Columns/Table) to `path`."""
    kwargs = {}
    if encrypt:
        from reportlab.lib import pdfencrypt

        kwargs["encrypt"] = pdfencrypt.StandardEncryption(encrypt, canPrint=0)
    c = canvas.Canvas(str(path), pagesize=A4, **kwargs)
    c.setTitle(title)
    for n, blocks in enumerate(pages, start=1):
        if header:
            c.setFont("Helvetica", 8)
            c.drawString(LEFT, HEIGHT - 40, header)
        if footer:
            c.setFont("Helvetica", 8)
            c.drawCentredString(WIDTH / 2, 30, footer.format(n=n, total=len(pages)))
        y = HEIGHT - 80
        for block in blocks:
            y = _draw(c, block, y)
        c.showPage()
    c.save()
    return path


def _draw(c, block, y: float) -> float:
    if isinstance(block, Title):
        c.setFont("Helvetica-Bold", block.size)
        c.drawString(LEFT, y, block.text)
        return y - block.size * 1.6
    if isinstance(block, Heading):
        y -= 4
        c.setFont("Helvetica-Bold", block.size)
        c.drawString(LEFT, y, block.text)
        return y - block.size * 1.5
    if isinstance(block, Para):
        return _draw_lines(c, block.lines, LEFT, y)
    if isinstance(block, Columns):
        gutter = 24
        col = (RIGHT - LEFT - gutter) / 2
        y_left = y_right = y
        for para in block.left:
            y_left = _draw_lines(c, para.lines, LEFT, y_left)
        for para in block.right:
            y_right = _draw_lines(c, para.lines, LEFT + col + gutter, y_right)
        return min(y_left, y_right)
    if isinstance(block, Table):
        return _draw_table(c, block, y)
    raise TypeError(block)


def _draw_lines(c, lines: list[str], x: float, y: float) -> float:
    c.setFont("Helvetica", BODY)
    for line in lines:
        c.drawString(x, y, line)
        y -= LEADING
    return y - PARA_GAP


def _draw_table(c, table: Table, y: float) -> float:
    ncols = max(len(r) for r in table.rows)
    widths = table.widths or [(RIGHT - LEFT) / ncols] * ncols
    row_h = 18
    top = y + 12
    c.setLineWidth(0.8)
    for i, row in enumerate(table.rows):
        x = LEFT
        c.setFont("Helvetica-Bold" if i == 0 else "Helvetica", 9)
        for w, cell in zip(widths, row):
            c.rect(x, top - row_h * (i + 1), w, row_h)
            c.drawString(x + 3, top - row_h * (i + 1) + 6, cell)
            x += w
    return top - row_h * len(table.rows) - 20


def build_image_only_pdf(path: Path) -> Path:
    """A 'scanned' page: a picture of text and no text layer."""
    from reportlab.lib.utils import ImageReader
    import io
    import struct
    import zlib

    w, h = 40, 20
    raw = b"".join(b"\x00" + bytes([(x * 7 + y * 3) % 256 for x in range(w)]) for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    c = canvas.Canvas(str(path), pagesize=A4)
    c.drawImage(ImageReader(io.BytesIO(png)), 72, 400, width=400, height=200)
    c.showPage()
    c.save()
    return path
