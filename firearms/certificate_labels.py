"""The labels of a deactivation certificate in English and in a State's national language (DESIGN §3).

Reg. 2015/2403 Art. 3(4) and Annex III: the verifying entity issues a certificate of deactivation. DESIGN §3 asks
for it "in the national language and English": every label is printed in English with the national one beside it.
A State without labels here gets English alone. A State of several official languages (BE, CH, LU ...) has none:
which of them a certificate takes is that State's choice, not the registry's.
"""

from __future__ import annotations

__all__ = ["ENGLISH", "LANGUAGES", "NATIONAL", "labels_for"]

ENGLISH: dict[str, str] = {
    "title": "Deactivation certificate",
    "certificate_number": "Certificate number",
    "certificate_date": "Date of certificate",
    "state": "State of the registry",
    "item": "Item",
    "kind": "Kind",
    "type": "Type",
    "make": "Make",
    "model": "Model",
    "calibre": "Calibre",
    "serial": "Serial number",
    "manufacturer": "Manufacturer",
    "country_of_manufacture": "Country of manufacture",
    "year_of_manufacture": "Year of manufacture",
    "deactivation": "Deactivation",
    "occurred_on": "Date of deactivation",
    "mark": "Deactivation mark",
    "deactivator": "Deactivated by",
    "verifier": "Verified by",
    "category_before": "Category before deactivation",
    "category_after": "Category after deactivation",
}

# language code -> labels; every language has every English key (a test holds them to it)
LANGUAGES: dict[str, dict[str, str]] = {
    "de": {
        "title": "Deaktivierungsbescheinigung",
        "certificate_number": "Nummer der Bescheinigung",
        "certificate_date": "Datum der Bescheinigung",
        "state": "Staat des Registers",
        "item": "Gegenstand",
        "kind": "Art",
        "type": "Typ",
        "make": "Marke",
        "model": "Modell",
        "calibre": "Kaliber",
        "serial": "Seriennummer",
        "manufacturer": "Hersteller",
        "country_of_manufacture": "Herstellungsland",
        "year_of_manufacture": "Herstellungsjahr",
        "deactivation": "Deaktivierung",
        "occurred_on": "Datum der Deaktivierung",
        "mark": "Deaktivierungskennzeichen",
        "deactivator": "Deaktiviert durch",
        "verifier": "Überprüft durch",
        "category_before": "Kategorie vor der Deaktivierung",
        "category_after": "Kategorie nach der Deaktivierung",
    },
    "cs": {
        "title": "Osvědčení o znehodnocení",
        "certificate_number": "Číslo osvědčení",
        "certificate_date": "Datum osvědčení",
        "state": "Stát registru",
        "item": "Předmět",
        "kind": "Druh",
        "type": "Typ",
        "make": "Značka",
        "model": "Model",
        "calibre": "Ráže",
        "serial": "Výrobní číslo",
        "manufacturer": "Výrobce",
        "country_of_manufacture": "Země výroby",
        "year_of_manufacture": "Rok výroby",
        "deactivation": "Znehodnocení",
        "occurred_on": "Datum znehodnocení",
        "mark": "Značka znehodnocení",
        "deactivator": "Znehodnotil",
        "verifier": "Ověřil",
        "category_before": "Kategorie před znehodnocením",
        "category_after": "Kategorie po znehodnocení",
    },
    "sk": {
        "title": "Osvedčenie o znehodnotení",
        "certificate_number": "Číslo osvedčenia",
        "certificate_date": "Dátum osvedčenia",
        "state": "Štát registra",
        "item": "Predmet",
        "kind": "Druh",
        "type": "Typ",
        "make": "Značka",
        "model": "Model",
        "calibre": "Kaliber",
        "serial": "Výrobné číslo",
        "manufacturer": "Výrobca",
        "country_of_manufacture": "Krajina výroby",
        "year_of_manufacture": "Rok výroby",
        "deactivation": "Znehodnotenie",
        "occurred_on": "Dátum znehodnotenia",
        "mark": "Značka znehodnotenia",
        "deactivator": "Znehodnotil",
        "verifier": "Overil",
        "category_before": "Kategória pred znehodnotením",
        "category_after": "Kategória po znehodnotení",
    },
    "fr": {
        "title": "Certificat de neutralisation",
        "certificate_number": "Numéro du certificat",
        "certificate_date": "Date du certificat",
        "state": "État du registre",
        "item": "Objet",
        "kind": "Nature",
        "type": "Type",
        "make": "Marque",
        "model": "Modèle",
        "calibre": "Calibre",
        "serial": "Numéro de série",
        "manufacturer": "Fabricant",
        "country_of_manufacture": "Pays de fabrication",
        "year_of_manufacture": "Année de fabrication",
        "deactivation": "Neutralisation",
        "occurred_on": "Date de la neutralisation",
        "mark": "Marquage de neutralisation",
        "deactivator": "Neutralisée par",
        "verifier": "Vérifiée par",
        "category_before": "Catégorie avant la neutralisation",
        "category_after": "Catégorie après la neutralisation",
    },
    "it": {
        "title": "Certificato di disattivazione",
        "certificate_number": "Numero del certificato",
        "certificate_date": "Data del certificato",
        "state": "Stato del registro",
        "item": "Oggetto",
        "kind": "Natura",
        "type": "Tipo",
        "make": "Marca",
        "model": "Modello",
        "calibre": "Calibro",
        "serial": "Numero di serie",
        "manufacturer": "Fabbricante",
        "country_of_manufacture": "Paese di fabbricazione",
        "year_of_manufacture": "Anno di fabbricazione",
        "deactivation": "Disattivazione",
        "occurred_on": "Data della disattivazione",
        "mark": "Marcatura di disattivazione",
        "deactivator": "Disattivata da",
        "verifier": "Verificata da",
        "category_before": "Categoria prima della disattivazione",
        "category_after": "Categoria dopo la disattivazione",
    },
}

# the registry's State -> the language of its certificates
NATIONAL: dict[str, str] = {"AT": "de", "DE": "de", "LI": "de", "CZ": "cs", "SK": "sk", "FR": "fr", "IT": "it"}


def labels_for(state: str) -> tuple[str, dict[str, str]] | None:
    """The national language and labels of ``state``'s certificates; ``None`` when it has none here (English alone)."""
    language = NATIONAL.get(state)
    return None if language is None else (language, LANGUAGES[language])
