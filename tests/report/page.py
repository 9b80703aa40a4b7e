"""A parsed report page: section ids, headings, images, tables and notes (stdlib html.parser)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Page:
    section_ids: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    tables: dict[str, list[list[str]]] = field(default_factory=dict)   # id -> rows (header first)
    cells: dict[str, list[list[dict]]] = field(default_factory=dict)   # id -> attrs of each <td>
    classed_text: dict[str, list[str]] = field(default_factory=dict)   # class -> texts of <p>
    links: list[str] = field(default_factory=list)                     # href of every <a>
    styles: str = ""                                                   # the <style> text


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._text: list[str] | None = None
        self._text_kind: str | None = None
        self._anonymous = 0
        self._cell_attrs: list[dict] | None = None
        self._style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and attrs.get("id"):
            self.page.section_ids.append(attrs["id"])
        elif tag == "img":
            self.page.images.append(attrs)
        elif tag == "table":
            self._anonymous += 1
            self._table = attrs.get("id") or f"table-{self._anonymous}"
            self.page.tables[self._table] = []
            self.page.cells[self._table] = []
        elif tag == "tr" and self._table:
            self._row, self._cell_attrs = [], []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
            if tag == "td":
                self._cell_attrs.append(attrs)
        elif tag == "a" and attrs.get("href"):
            self.page.links.append(attrs["href"])
        elif tag == "style":
            self._style = True
        elif tag in ("h1", "h2", "h3", "h4"):
            self._text, self._text_kind = [], "heading"
        elif tag == "p" and attrs.get("class"):
            self._text, self._text_kind = [], attrs["class"]

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.page.tables[self._table].append(self._row)
            if self._cell_attrs:
                self.page.cells[self._table].append(self._cell_attrs)
            self._row = self._cell_attrs = None
        elif tag == "style":
            self._style = False
        elif tag == "table":
            self._table = None
        elif tag in ("h1", "h2", "h3", "h4", "p") and self._text is not None:
            text = " ".join("".join(self._text).split())
            if self._text_kind == "heading":
                self.page.headings.append(text)
            else:
                self.page.classed_text.setdefault(self._text_kind, []).append(text)
            self._text = None

    def handle_data(self, data):
        if self._style:
            self.page.styles += data
        if self._cell is not None:
            self._cell.append(data)
        if self._text is not None:
            self._text.append(data)


def parse(html: str) -> Page:
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser.page


def table_rows(page: Page, table_id: str) -> list[dict[str, str]]:
    """Rows of a table as dicts keyed by its header cells."""
    header, *rows = page.tables[table_id]
    return [dict(zip(header, row, strict=True)) for row in rows]


def cell_attrs(page: Page, table_id: str) -> list[dict[str, dict]]:
    """Attributes (class, title) of each body cell, as dicts keyed by the header cells."""
    header = page.tables[table_id][0]
    return [dict(zip(header, row, strict=True)) for row in page.cells[table_id]]
