"""The health professions Vigie filters by, in words (the ids are `monitor.config.model.PROFESSIONS`)."""

from __future__ import annotations

from monitor.words.languages import pick

PROFESSION_WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "opticien": "opticien",
        "audioprothesiste": "audioprothésiste",
        "pharmacien": "pharmacien",
        "dentiste": "chirurgien-dentiste",
        "medecin": "médecin",
        "infirmier": "infirmier",
        "kinesitherapeute": "kinésithérapeute",
        "sage-femme": "sage-femme",
        "laboratoire": "laboratoire de biologie",
        "etablissement": "établissement de santé",
        "centre-de-sante": "centre de santé",
    },
    "en": {
        "opticien": "optician",
        "audioprothesiste": "hearing-aid specialist",
        "pharmacien": "pharmacist",
        "dentiste": "dentist",
        "medecin": "doctor",
        "infirmier": "nurse",
        "kinesitherapeute": "physiotherapist",
        "sage-femme": "midwife",
        "laboratoire": "medical laboratory",
        "etablissement": "hospital or clinic",
        "centre-de-sante": "health centre",
    },
}

# "Je suis opticien" / "I am an optician": the overview's filter choices
I_AM: dict[str, dict[str, str]] = {
    "fr": {key: f"Je suis {label}" for key, label in PROFESSION_WORDS["fr"].items()}
    | {"etablissement": "Je suis un établissement de santé", "centre-de-sante": "Je suis un centre de santé",
       "laboratoire": "Je suis un laboratoire de biologie"},
    "en": {
        key: f"I am {'an' if label[0] in 'aeiou' else 'a'} {label}" for key, label in PROFESSION_WORDS["en"].items()
    },
}


def profession_word(lang: str, profession: str) -> str:
    """'chirurgien-dentiste'; an unknown id is shown as it is."""
    return pick(PROFESSION_WORDS, lang).get(profession, profession)


def i_am(lang: str, profession: str) -> str:
    """'Je suis un centre de santé' / 'I am a health centre'."""
    return pick(I_AM, lang).get(profession, profession)
