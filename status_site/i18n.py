"""Which language a request asks for: French first. The words themselves live in `monitor.words`."""

from __future__ import annotations

from aiohttp import web

from monitor.words.languages import DEFAULT, SUPPORTED


def negotiate(request: web.Request, languages: tuple[str, ...] = SUPPORTED) -> str:
    """``?lang=`` wins, then Accept-Language; anything unsupported falls back to the first language."""
    allowed = [lang for lang in languages if lang in SUPPORTED] or [DEFAULT]
    asked = request.query.get("lang", "").strip().lower()[:8]
    if asked in allowed:
        return asked
    if asked:
        return allowed[0]
    header = request.headers.get("Accept-Language", "")
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in allowed and q > 0:
            ranked.append((-q, index, primary))
    return min(ranked)[2] if ranked else allowed[0]
