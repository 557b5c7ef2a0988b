"""A self-contained SVG badge (the flat two-part shape of shields.io): no fonts, images or links to fetch."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

FONT_SIZE, HEIGHT, PAD = 11, 20, 6
# Approximate advance widths of Verdana at 11 px; textLength pins the rendered width to the estimate, so the
# text fits its box whichever font the viewer substitutes.
_NARROW, _WIDE = set("fijlrt.,:;|!' /()-"), set("mwMW@%")


def text_width(text: str) -> float:
    """The width the badge gives a text, in pixels."""
    width = 0.0
    for ch in text:
        if ch in _NARROW:
            width += 3.9
        elif ch in _WIDE:
            width += 10.2
        elif ch.isupper() or ch.isdigit():
            width += 7.4
        else:
            width += 6.6
    return round(width, 1)


def badge_svg(label: str, message: str, colour: str, *, title: str = "") -> str:
    """A badge reading `label | message`, the message on colour, title as its tooltip and accessible name."""
    lw, mw = text_width(label) + 2 * PAD, text_width(message) + 2 * PAD
    width = lw + mw
    name = title or f"{label}: {message}"

    def text(x: float, value: str) -> str:
        length = text_width(value)
        fit = f'textLength="{length}" lengthAdjust="spacingAndGlyphs"'
        return (f'<text x="{x:.1f}" y="15" fill="#010101" fill-opacity=".3" {fit}>{escape(value)}</text>'
                f'<text x="{x:.1f}" y="14" {fit}>{escape(value)}</text>')

    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.1f}" height="{HEIGHT}" role="img" '
            f'aria-label={quoteattr(name)}><title>{escape(name)}</title>'
            f'<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
            f'<stop offset="1" stop-opacity=".1"/></linearGradient>'
            f'<clipPath id="r"><rect width="{width:.1f}" height="{HEIGHT}" rx="3" fill="#fff"/></clipPath>'
            f'<g clip-path="url(#r)"><rect width="{lw:.1f}" height="{HEIGHT}" fill="#555"/>'
            f'<rect x="{lw:.1f}" width="{mw:.1f}" height="{HEIGHT}" fill={quoteattr(colour)}/>'
            f'<rect width="{width:.1f}" height="{HEIGHT}" fill="url(#s)"/></g>'
            f'<g fill="#fff" text-anchor="start" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
            f'font-size="{FONT_SIZE}">{text(PAD, label)}{text(lw + PAD, message)}</g></svg>\n')
