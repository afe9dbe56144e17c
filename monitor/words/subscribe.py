"""The subscription pages' words (``/subscriptions/…``), in French and English."""

from __future__ import annotations

SUBSCRIBE_TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "title": "S’abonner aux alertes",
        "intro": "Recevez un courriel dès qu’un service que vous utilisez tombe en panne, puis quand il est rétabli.",
        "privacy": "Nous ne gardons que votre adresse et vos choix. Vous confirmez par un lien envoyé à l’adresse, "
        "et chaque message contient un lien pour vous désabonner en un clic, ce qui efface l’adresse.",
        "what": "Que voulez-vous suivre ?",
        "all": "Tous les opérateurs et services",
        "whole_operator": "Tout {operator}",
        "professions": "Ou bien : tout ce qui concerne mon métier",
        "email": "Adresse électronique",
        "submit": "S’abonner",
        "errors": "Le formulaire contient des erreurs :",
        "error_empty": "Indiquez une adresse électronique.",
        "error_length": "Cette adresse est trop longue.",
        "error_format": "Cette adresse électronique n’est pas valide.",
        "error_choices": "Choisissez au moins un opérateur, un service ou un métier.",
        "sent_title": "Vérifiez votre messagerie",
        "sent": "Si l’adresse est valide, un message de confirmation vient d’y être envoyé. "
        "Ouvrez le lien qu’il contient dans les {hours} heures ; sans confirmation, rien ne sera envoyé "
        "et l’adresse sera effacée.",
        "confirm_title": "Confirmer l’abonnement",
        "confirm_text": "Confirmez pour recevoir les alertes de Vigie à l’adresse indiquée.",
        "confirm_button": "Confirmer l’abonnement",
        "confirmed_title": "Abonnement confirmé",
        "confirmed": "C’est fait : vous recevrez les alertes de Vigie. Chaque message contient un lien "
        "pour vous désabonner.",
        "invalid_title": "Lien invalide ou expiré",
        "invalid": "Ce lien ne correspond à aucune demande en cours : il a peut-être expiré ({hours} heures) "
        "ou déjà servi. Vous pouvez refaire une demande.",
        "leave_title": "Se désabonner",
        "leave_text": "Ne plus recevoir les alertes de Vigie, et effacer l’adresse.",
        "leave_button": "Se désabonner",
        "left_title": "Désabonnement effectué",
        "left": "Cette adresse ne recevra plus d’alertes et a été effacée.",
        "limited_title": "Trop de demandes",
        "limited": "Trop de demandes d’abonnement depuis cette connexion. Réessayez dans une heure.",
        "forbidden_title": "Demande refusée",
        "forbidden": "Ce formulaire doit être envoyé depuis la page d’état elle-même.",
        "again": "Refaire une demande",
    },
    "en": {
        "title": "Subscribe to alerts",
        "intro": "Get an email as soon as a service you use fails, and again when it is back.",
        "privacy": "We keep only your address and your choices. You confirm through a link sent to the address, "
        "and every message carries a one-click unsubscribe link, which erases the address.",
        "what": "What do you want to follow?",
        "all": "Every operator and service",
        "whole_operator": "All of {operator}",
        "professions": "Or: everything that concerns my profession",
        "email": "Email address",
        "submit": "Subscribe",
        "errors": "The form has errors:",
        "error_empty": "Please give an email address.",
        "error_length": "This address is too long.",
        "error_format": "This email address is not valid.",
        "error_choices": "Choose at least one operator, service or profession.",
        "sent_title": "Check your inbox",
        "sent": "If the address is valid, a confirmation message has just been sent to it. Open its link within "
        "{hours} hours; without confirmation nothing will be sent and the address will be erased.",
        "confirm_title": "Confirm the subscription",
        "confirm_text": "Confirm to receive Vigie's alerts at the address given.",
        "confirm_button": "Confirm the subscription",
        "confirmed_title": "Subscription confirmed",
        "confirmed": "Done: you will receive Vigie's alerts. Every message carries an unsubscribe link.",
        "invalid_title": "Invalid or expired link",
        "invalid": "This link matches no pending request: it may have expired ({hours} hours) or been used "
        "already. You can ask again.",
        "leave_title": "Unsubscribe",
        "leave_text": "Stop receiving Vigie's alerts, and erase the address.",
        "leave_button": "Unsubscribe",
        "left_title": "Unsubscribed",
        "left": "This address will receive no more alerts and has been erased.",
        "limited_title": "Too many requests",
        "limited": "Too many subscription requests from this connection. Please try again in an hour.",
        "forbidden_title": "Request refused",
        "forbidden": "This form must be sent from the status page itself.",
        "again": "Ask again",
    },
}
