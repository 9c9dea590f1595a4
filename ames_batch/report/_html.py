"""Self-contained HTML pages: escaping, data: URIs, a page shell that forbids any network load."""

import base64
import html
import json
import re

# The page may load nothing from anywhere: images are data: URIs, styles and scripts inline.
_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
        "form-action 'none'; base-uri 'none'")

_BASE_CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --paper: #ffffff; --wash: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
       color: var(--ink); background: var(--wash); }
main { max-width: 1500px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0 2px; }
h2 { font-size: 17px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 14px 0 6px; }
p.lead, .muted { color: var(--muted); }
section, .panel { background: var(--paper); border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; }
section { margin-top: 16px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: middle; }
th { font-weight: 600; background: var(--wash); }
td.num, th.num { text-align: right; }
figure { margin: 0; }
figure.pic { display: table; }  /* the caption wraps at the picture's width */
figure.pic img { display: block; background: #000; border-radius: 3px; }
figure.pic figcaption { display: table-caption; caption-side: bottom; padding-top: 2px; }
figcaption { font-size: 12px; color: var(--muted); }
img { max-width: 100%; height: auto; }
"""


def _esc(value) -> str:
    """HTML-escaped text of any value (quotes too: safe inside attributes)."""
    return html.escape(str(value), quote=True)


def _data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` of PNG bytes."""
    if not isinstance(png, bytes | bytearray) or not bytes(png[:8]) == b"\x89PNG\r\n\x1a\n":
        raise ValueError("an image must be PNG bytes (e.g. from cell_thumbnail_png)")
    return "data:image/png;base64," + base64.b64encode(bytes(png)).decode("ascii")


def _json_script(element_id: str, data) -> str:
    """Data for the page's script in a ``<script type="application/json">`` that cannot close early."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")
    return f'<script type="application/json" id="{_esc(element_id)}">{text}</script>'


def _page(title: str, body: str, *, css: str = "", script: str = "") -> str:
    """A whole HTML document: UTF-8, the no-network policy, base and page CSS, body, script last."""
    script_tag = f"<script>\n{script}\n</script>\n" if script else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{_esc(title)}</title>\n<style>{_BASE_CSS}{css}</style>\n</head>\n"
        f"<body>\n{body}\n{script_tag}</body>\n</html>\n"
    )


def _kv_table(values) -> str:
    """A two-column table of a mapping (nested values as compact JSON)."""
    rows = []
    for key, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
        rows.append(f"<tr><th>{_esc(key)}</th><td>{_esc(text)}</td></tr>")
    return f"<table class=\"kv\">{''.join(rows)}</table>"


def _rgb(colour) -> str:
    """CSS ``rgb(r, g, b)`` of an (r, g, b[, a]) tuple of 0..255 ints."""
    r, g, b = (int(round(c)) for c in colour[:3])
    return f"rgb({r}, {g}, {b})"


def _ink_on(colour) -> str:
    """Black or white text, whichever reads better on `colour` (WCAG relative luminance)."""
    def channel(c):
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in colour[:3])
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#000" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#fff"


_SVG_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)
_SVG_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)


def _figure_svg(fig) -> str:
    """Inline ``<svg>`` of a matplotlib Figure: no XML prologue, no metadata block, text as text."""
    import io

    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "ames-batch"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return _SVG_METADATA.sub("", _SVG_PROLOGUE.sub("", buffer.getvalue(), count=1))
