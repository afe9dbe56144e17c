"""Everything Vigie says to people, in French first and in English, and how it writes times.

One package, below both `status_site` and `alerts`, so that the pages, the
feed, the badges, the API's descriptions, the emails, the chat texts and the
demo's narrator share their words and their sentences and can never word one
fact two ways:

- `languages` — the languages, `localized`, `join_words`, colons;
- `times` — `iso` / `epoch` (the one machine form of a time) and `Formatter` (times in words, Babel);
- `status_words` — every status in words, one table per register;
- `site`, `subscribe`, `alerts`, `professions` — the texts of the pages, of the subscription pages, of the alerts;
- `incidents` — what an automatic incident writes (title, updates);
- `sentences` — `Sentences`: the ETA, recovery, maintenance, banner and alert-title sentences;
- `narrator` — the lines `vigie demo` prints.
"""

from monitor.words.alerts import MAIL_WORDS, NOTICE_WORDS, alert_test_message, mail_words, notice_words
from monitor.words.languages import DEFAULT, SUPPORTED, Texts, join_words, localized, pick
from monitor.words.professions import I_AM, PROFESSION_WORDS, i_am, profession_word
from monitor.words.sentences import Sentences, maintenance_running
from monitor.words.site import TEXTS, texts
from monitor.words.status_words import (
    ALERT_WORDS,
    BADGE_TEXTS,
    BADGE_WORDS,
    CHECK_WORDS,
    COMPONENT_WORDS,
    INCIDENT_WORDS,
    PAGE_DESCRIPTIONS,
    alert_word,
    badge_word,
    check_word,
    component_word,
    incident_word,
    page_description,
)
from monitor.words.subscribe import SUBSCRIBE_TEXTS
from monitor.words.times import Formatter, epoch, iso

__all__ = [
    "ALERT_WORDS", "BADGE_TEXTS", "BADGE_WORDS", "CHECK_WORDS", "COMPONENT_WORDS", "DEFAULT", "Formatter", "I_AM", "INCIDENT_WORDS",
    "MAIL_WORDS", "NOTICE_WORDS", "PAGE_DESCRIPTIONS", "PROFESSION_WORDS", "SUBSCRIBE_TEXTS", "SUPPORTED", "Sentences",
    "TEXTS", "Texts", "alert_test_message", "alert_word", "badge_word", "check_word", "component_word", "epoch", "i_am",
    "incident_word", "iso", "join_words", "localized", "mail_words", "maintenance_running", "notice_words",
    "page_description", "pick", "profession_word", "texts",
]
