"""Reasons in words (monitor.words.reasons): every kind of stored reason said in French and in English."""

from __future__ import annotations

import pytest

from monitor.words.reasons import say, sentence

CASES = [
    # (stored reason, French words, English words)
    ("status == 200: 503", "le service répond « erreur 503 »", "the service answers “error 503”"),
    ("status < 400: 404", "le service répond « erreur 404 »", "the service answers “error 404”"),
    ("status == 200: 302", "le service renvoie vers une autre adresse (code 302)", "the service redirects elsewhere (code 302)"),
    ("status == 200: no HTTP status", "le service ne renvoie pas de réponse web", "the service sends no web answer"),
    ("body contains 'OK': body contains no 'OK' (20 bytes)", "la page ne contient pas le texte attendu",
     "the page does not contain the expected text"),
    ("body not contains 'erreur technique': body contains 'erreur technique': '<p>erreur technique</p>'",
     "la page affiche « erreur technique »", "the page shows “erreur technique”"),
    ("body matches '^OK$': body does not match '^OK$' (12 bytes)", "la page ne contient pas le texte attendu",
     "the page does not contain the expected text"),
    # what a condition says of a body since it never repeats any of it (issue 13)
    ("body not contains 'erreur technique': body contains 'erreur technique'",
     "la page affiche « erreur technique »", "the page shows “erreur technique”"),
    ("body not matches 'indispo\\w+': body matches 'indispo\\w+'",
     "la page affiche un texte qui signale un problème", "the page shows a text that signals a problem"),
    ("body == 'pong': body is not the expected text (4 bytes)", "la page ne contient pas le texte attendu",
     "the page does not contain the expected text"),
    ("body not matches 'indispo\\w+': body matches: 'service indisponible'",
     "la page affiche un texte qui signale un problème", "the page shows a text that signals a problem"),
    ("json .status == 'ok': json .status = 'down'", "le service signale un état anormal (.status = « down »)",
     "the service reports an abnormal state (.status = “down”)"),
    ("json .db.ok == true: json .db.ok not found", "la réponse ne contient pas l’information attendue (.db.ok)",
     "the answer lacks the expected information (.db.ok)"),
    ("json .ok == true: body is not JSON", "la réponse n’est pas dans le format attendu", "the answer is not in the expected format"),
    ("header X-Status == 'up': header X-Status = 'down'", "la réponse porte un en-tête inattendu (X-Status : « down »)",
     "the answer carries an unexpected header (X-Status: “down”)"),
    ("header X-Status == 'up': no such header", "il manque un en-tête attendu dans la réponse (X-Status)",
     "an expected header is missing from the answer (X-Status)"),
    ("response_time < 2s: 2.41s", "le service répond lentement : 2,41\u00a0s (seuil : 2\u00a0s)",
     "the service is slow to answer: 2.41\u00a0s (limit: 2\u00a0s)"),
    ("response_time < 800ms: 950ms", "le service répond lentement : 950\u00a0ms (seuil : 800\u00a0ms)",
     "the service is slow to answer: 950\u00a0ms (limit: 800\u00a0ms)"),
    ("phase.first_byte < 1s: first_byte 3.20s", "le service tarde à répondre : 3,2\u00a0s", "the service is slow to answer: 3.2\u00a0s"),
    ("timeout after 5s during DNS resolution", "délai dépassé en cherchant le nom du portail dans le DNS (5\u00a0s)",
     "timed out looking up the portal’s name in the DNS (5\u00a0s)"),
    ("timeout after 5s while connecting", "délai dépassé en essayant de joindre le service (5\u00a0s)",
     "timed out trying to reach the service (5\u00a0s)"),
    ("timeout after 5s during TLS handshake", "délai dépassé pendant l’établissement de la connexion sécurisée (5\u00a0s)",
     "timed out setting up the secure connection (5\u00a0s)"),
    ("timeout after 5s waiting for the first byte", "délai dépassé en attendant la réponse (5\u00a0s)",
     "timed out waiting for the answer (5\u00a0s)"),
    ("timeout after 10s while reading the body", "délai dépassé pendant le chargement de la page (10\u00a0s)",
     "timed out while loading the page (10\u00a0s)"),
    ("timeout after 2s waiting for the DNS answer from 127.0.0.1:53",
     "délai dépassé en attendant la réponse du serveur DNS (2\u00a0s)", "timed out waiting for the DNS server’s answer (2\u00a0s)"),
    ("connection refused (127.0.0.1:443)", "le service refuse la connexion", "the service refuses the connection"),
    ("connection refused", "le service refuse la connexion", "the service refuses the connection"),
    ("connection reset by peer while reading the body", "la connexion a été coupée par le service", "the service cut the connection"),
    ("DNS: cannot resolve 'pro.viamedis.net': Name or service not known", "le nom du portail n’existe plus dans le DNS",
     "the portal’s name no longer exists in the DNS"),
    ("DNS: cannot resolve 'pro.viamedis.net': Temporary failure in name resolution",
     "le nom du portail est introuvable dans le DNS pour le moment", "the portal’s name cannot be found in the DNS right now"),
    ("dns.rcode == NOERROR: NXDOMAIN", "le nom du portail n’existe plus dans le DNS", "the portal’s name no longer exists in the DNS"),
    ("dns.rcode == NOERROR: SERVFAIL", "le DNS ne parvient pas à répondre pour le nom du portail",
     "the DNS cannot answer for the portal’s name"),
    ("dns.answers contains '10.0.0.1': answers: 10.0.0.2", "le nom du portail pointe vers une autre adresse (10.0.0.2)",
     "the portal’s name points to another address (10.0.0.2)"),
    ("dns.answers contains '10.0.0.1': no answers", "le nom du portail ne pointe vers aucune adresse",
     "the portal’s name points to no address"),
    ("TLS: certificate has expired", "le certificat de sécurité du service a expiré", "the service’s security certificate has expired"),
    ("TLS: hostname mismatch, certificate is not valid for 'pec.example'",
     "le certificat de sécurité ne correspond pas au nom du service", "the security certificate does not match the service’s name"),
    ("TLS: self-signed certificate", "le certificat de sécurité du service n’est pas reconnu",
     "the service’s security certificate is not trusted"),
    ("TLS: handshake failed: wrong version number", "la connexion sécurisée avec le service échoue",
     "the secure connection to the service fails"),
    ("tls_version >= 1.2: TLS 1.1", "la connexion sécurisée utilise une version trop ancienne (TLS 1.1)",
     "the secure connection uses an outdated version (TLS 1.1)"),
    ("cert_expires_in > 14d: certificate expires in 9 days", "le certificat de sécurité expire dans 9\u00a0jours",
     "the security certificate expires in 9\u00a0days"),
    ("cert_expires_in > 14d: certificate expires in 1 day", "le certificat de sécurité expire dans 1\u00a0jour",
     "the security certificate expires in 1\u00a0day"),
    ("cert_expires_in > 0s: certificate expired 3 days ago", "le certificat de sécurité a expiré il y a 3\u00a0jours",
     "the security certificate expired 3\u00a0days ago"),
    ("error_rate < 20%: error rate 90.0% (9 of 10)", "9 demandes sur 10 échouent d’après le partenaire (90\u202f%)",
     "9 of 10 requests fail according to the partner (90%)"),
    ("volume >= 10: volume 3: not enough traffic to judge", "trop peu d’activité pour juger (3\u00a0demandes)",
     "too little activity to judge (3\u00a0requests)"),
    ("volume 0: no traffic to judge", "aucune activité remontée par le partenaire sur la période",
     "no activity reported by the partner in the period"),
    ("échec signalé : disque plein", "l’émetteur du battement signale un échec : « disque plein »",
     "the heartbeat’s sender reports a failure: “disque plein”"),
    ("aucun battement reçu depuis 2026-11-30 13:05:00 UTC : attendu toutes les 60 s",
     "aucun battement reçu à temps (intervalle attendu : 1\u00a0min)", "no heartbeat received in time (expected interval: 1\u00a0min)"),
    ("aucune fenêtre jugeable reçue du partenaire cetip", "aucune donnée exploitable reçue du partenaire",
     "no usable data received from the partner"),
    ("portail rapide: 2.41s", "le service répond lentement : 2,41\u00a0s", "the service is slow to answer: 2.41\u00a0s"),
    ("lyon: status == 200: 503", "lyon\u00a0: le service répond « erreur 503 »", "lyon: the service answers “error 503”"),
    ("api: lyon: body contains 'OK': body contains no 'OK' (20 bytes)",
     "api\u00a0: lyon\u00a0: la page ne contient pas le texte attendu", "api: lyon: the page does not contain the expected text"),
    ("something nobody wrote yet", "le service ne répond pas comme prévu", "the service does not answer as expected"),
    ("", "le service ne répond pas comme prévu", "the service does not answer as expected"),
]


@pytest.mark.parametrize("reason, french, english", CASES, ids=[c[0][:50] for c in CASES])
def test_it_says_each_kind_of_reason_in_both_languages(reason: str, french: str, english: str) -> None:
    assert say(reason, "fr") == french
    assert say(reason, "en") == english


def test_it_speaks_french_to_a_language_it_does_not_know() -> None:
    assert say("status == 200: 503", "de") == "le service répond « erreur 503 »"


def test_it_capitalises_a_reason_shown_on_its_own_line() -> None:
    assert sentence("status == 200: 503", "fr") == "Le service répond « erreur 503 »"
    assert sentence("lyon: status == 200: 503", "fr") == "lyon\u00a0: le service répond « erreur 503 »"


@pytest.mark.parametrize("reason", [c[0] for c in CASES])
def test_it_never_leaves_the_technical_text_in_the_french_words(reason: str) -> None:
    words = say(reason, "fr")
    for raw in ("status ==", "body contains", "cert_expires_in", "timeout after", "error rate", "bytes)"):
        assert raw not in words
    assert "'" not in words.replace("« ", "").replace(" »", "") or "'" in reason.split(": ")[-1]
