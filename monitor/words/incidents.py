"""What an automatic incident says: its title and its updates, written once in both languages.

These texts are stored with the incident (its title, each update's message),
so they read the same on the pages, in the feed, the API, the emails and the
webhooks. A service's name may lack English: French stands in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from monitor.words.languages import join_words


def _en(name: Mapping[str, str]) -> str:
    return name.get("en") or name["fr"]


def title(operator_name: str, service_names: Sequence[Mapping[str, str]], partial: Sequence[bool] = ()) -> dict[str, str]:
    """'Almerys : PEC optique et Droits indisponibles' / 'Almerys: Optical PEC and Rights unavailable'.

    ``partial[i]`` says the i-th service is only partly down (some of its checks): it is then
    'en partie indisponible', never worded as a total outage (issue 12, item 9).
    """
    flags = list(partial) + [False] * (len(service_names) - len(partial))
    total = [n for n, p in zip(service_names, flags) if not p]
    some = [n for n, p in zip(service_names, flags) if p]
    fr_parts, en_parts = [], []
    for names, fr_word, en_word in ((total, "indisponible", "unavailable"), (some, "en partie indisponible", "partly unavailable")):
        if names:
            plural = "s" if len(names) > 1 else ""
            fr_parts.append(f"{join_words([n['fr'] for n in names], 'fr')} {fr_word}{plural}")
            en_parts.append(f"{join_words([_en(n) for n in names], 'en')} {en_word}")
    return {"fr": f"{operator_name} : {', '.join(fr_parts)}", "en": f"{operator_name}: {', '.join(en_parts)}"}


def opened_message(service_name: Mapping[str, str]) -> dict[str, str]:
    return {
        "fr": f"Panne détectée automatiquement par Vigie : {service_name['fr']} ne répond plus correctement. "
        "Nous surveillons la situation.",
        "en": f"Outage detected automatically by Vigie: {_en(service_name)} "
        "is not answering correctly. We are monitoring the situation.",
    }


def joined_message(service_name: Mapping[str, str]) -> dict[str, str]:
    return {
        "fr": f"{service_name['fr']} est également touché.",
        "en": f"{_en(service_name)} is affected as well.",
    }


def recovered_message(service_name: Mapping[str, str]) -> dict[str, str]:
    """A service of the incident is back."""
    return {
        "fr": f"{service_name['fr']} répond de nouveau normalement.",
        "en": f"{_en(service_name)} is answering normally again.",
    }


def resolved_message() -> dict[str, str]:
    return {
        "fr": "Tous les services touchés répondent de nouveau normalement. Incident clos automatiquement.",
        "en": "Every affected service is answering normally again. Incident closed automatically.",
    }
