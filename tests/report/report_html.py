"""Reading rendered pages back with the standard library's HTML parser (test helper)."""

from html.parser import HTMLParser


class Elements(HTMLParser):
    """Every start tag as (tag, attributes dict), and the page's text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def find(self, tag: str, **attrs) -> list[dict]:
        want = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}  # class_ -> class
        return [a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in want.items())]


def external_references(text: str) -> list[str]:
    """Every src/href/xlink:href/action that is not a data: URI or a same-page #anchor."""
    out = []
    for tag, attrs in Elements(text).elements:
        for name in ("src", "href", "xlink:href", "action", "srcset", "poster"):
            value = attrs.get(name)
            if value is not None and not (value.startswith("data:") or value.startswith("#")):
                out.append(f"<{tag} {name}={value[:60]!r}>")
        if tag == "link":
            out.append(f"<link {attrs}>")
    return out
