"""What the alerts say — emails (``alerts/templates`` read ``w.key``) and chat/push texts — in French and English.

Statuses in words are in `status_words` (``ALERT_WORDS``); the sentences an
alert shares with the pages (the ETA, the maintenance window) come from
`monitor.words.sentences`, so a mail, a chat line and the page never word
the same fact two ways.
"""

from __future__ import annotations

from monitor.words.languages import Texts, pick

# the labels and notices of the mails
MAIL_WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "operator": "Opérateur :",
        "services": "Services touchés :",
        "status": "État :",
        "since": "Depuis le",
        "recovered": "rétabli le",
        "still": "toujours touché",
        "latest": "Dernière information",
        "colon": " :",
        "resolved": "Incident résolu le",
        "link": "Suivre l’incident sur la page d’état :",
        "maintenance_link": "Voir la page d’état :",
        "maintenance_services": "Services concernés :",
        "starts": "Début :",
        "ends": "Fin prévue :",
        "auto": "Message automatique de Vigie, la page d’état des plateformes de tiers payant. Ne répondez pas à ce message.",
        "channel_footer": "Vous recevez ce message car votre adresse figure dans la configuration des alertes de Vigie.",
        "subscriber_footer": "Vous recevez ce message car votre adresse est abonnée aux alertes de Vigie.",
        "unsubscribe": "Se désabonner en un clic :",
        "unsubscribe_button": "Se désabonner",
        "confirm_title": "Confirmez votre abonnement aux alertes de Vigie",
        "confirm_intro": "Quelqu’un, sans doute vous, a demandé à recevoir à cette adresse les alertes de Vigie pour :",
        "confirm_all": "tous les opérateurs et services",
        "confirm_button": "Confirmer l’abonnement",
        "confirm_link": "Pour confirmer, ouvrez ce lien :",
        "confirm_expiry": "Ce lien est valable {hours} heures. Sans confirmation, l’adresse sera effacée.",
        "confirm_replace": "Si cette adresse est déjà abonnée, confirmer remplacera ses choix actuels.",
        "confirm_not_me": "Si vous n’avez rien demandé, ignorez ce message, ou effacez l’adresse tout de suite :",
        "confirm_erase": "Effacer cette adresse",
    },
    "en": {
        "operator": "Operator:",
        "services": "Affected services:",
        "status": "Status:",
        "since": "Since",
        "recovered": "recovered",
        "still": "still affected",
        "latest": "Latest update",
        "colon": ":",
        "resolved": "Incident resolved",
        "link": "Follow the incident on the status page:",
        "maintenance_link": "See the status page:",
        "maintenance_services": "Services concerned:",
        "starts": "Starts:",
        "ends": "Expected end:",
        "auto": "Automatic message from Vigie, the status page of the French tiers-payant platforms. Please do not reply.",
        "channel_footer": "You receive this message because your address is in Vigie's alert configuration.",
        "subscriber_footer": "You receive this message because you subscribed to Vigie's alerts.",
        "unsubscribe": "Unsubscribe in one click:",
        "unsubscribe_button": "Unsubscribe",
        "confirm_title": "Confirm your subscription to Vigie's alerts",
        "confirm_intro": "Someone, probably you, asked to receive Vigie's alerts at this address for:",
        "confirm_all": "every operator and service",
        "confirm_button": "Confirm the subscription",
        "confirm_link": "To confirm, open this link:",
        "confirm_expiry": "This link is valid for {hours} hours. Without confirmation, the address will be erased.",
        "confirm_replace": "If this address is already subscribed, confirming will replace its current choices.",
        "confirm_not_me": "If you did not ask for anything, ignore this message, or erase the address right now:",
        "confirm_erase": "Erase this address",
    },
}

# the states and notices an alert's subject or title says, beside the statuses' words
NOTICE_WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "unstable": "instable",
        "stable": "de nouveau stable",
        "reminder": "rappel",
        "since": "depuis {when}",
        "confirm": "Confirmez votre abonnement aux alertes",
        "flapping": "{service} change d’état sans cesse ({changes} fois en {window}) : les alertes sont suspendues "
        "jusqu’à ce qu’il se stabilise.",
        "stable_again": "{service} est de nouveau stable.",
        "test": "message de test",
        "test_message": "Message de test de Vigie : ce canal fonctionne.",
        "vantage": "Lieu de mesure",
        "isolated": "ne voit plus les opérateurs",
        "recovered": "voit de nouveau les opérateurs",
        "isolated_message": "Vigie ne peut plus vérifier les opérateurs depuis {location} ({why}). Ses résultats "
        "sont mis de côté : aucun incident n’est ouvert et aucune fédération n’est alertée sur cette base.",
        "recovered_message": "Vigie vérifie de nouveau les opérateurs depuis {location} ({why}).",
    },
    "en": {
        "unstable": "unstable",
        "stable": "stable again",
        "reminder": "reminder",
        "since": "since {when}",
        "confirm": "Confirm your alert subscription",
        "flapping": "{service} keeps changing state ({changes} times in {window}): alerts are held until it settles.",
        "stable_again": "{service} is stable again.",
        "test": "test message",
        "test_message": "Vigie test message: this channel works.",
        "vantage": "Vantage point",
        "isolated": "cannot see the operators",
        "recovered": "sees the operators again",
        "isolated_message": "Vigie can no longer check the operators from {location} ({why}). Its results are set "
        "aside: no incident is opened and no federation is alerted on their basis.",
        "recovered_message": "Vigie checks the operators from {location} again ({why}).",
    },
}


def mail_words(lang: str) -> Texts:
    return Texts(pick(MAIL_WORDS, lang))


def notice_words(lang: str) -> Texts:
    return Texts(pick(NOTICE_WORDS, lang))


def alert_test_message() -> dict[str, str]:
    """The body of ``vigie alerts test``, in every language."""
    return {lang: words["test_message"] for lang, words in NOTICE_WORDS.items()}
