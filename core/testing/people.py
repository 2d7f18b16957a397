"""Deterministic, realistic people for fakes, tests, benchmarks and the demo.

``generate_people(n, seed=...)`` returns the same list every time for the same seed: names
from several countries (with non-ASCII letters such as "Müller" or "Zoë"), unique e-mail
addresses, phones in the formats people really type (E.164, national with spaces, dashes,
dots or parentheses), postal addresses in the person's country and a few tags.

Phone numbers come from ranges reserved for fiction (US 555-01xx, UK 07700 900xxx) or are
random mobile numbers elsewhere; e-mail domains are reserved names (``example.com``,
``*.test``), so nothing generated here belongs to anyone.

``overlapping(people, share)`` picks the same persons again as a second shop would hold
them: identical mailbox written in different case, identical number in another format.
That is the input identity resolution must merge.
"""

from __future__ import annotations

import functools
import random
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

__all__ = [
    "Address",
    "Person",
    "format_phone",
    "generate_people",
    "overlapping",
    "vary_email_case",
]


@dataclass(frozen=True)
class Address:
    """A postal address in the shape storefronts use (Shopify/WooCommerce field names)."""

    address1: str
    address2: str
    city: str
    province: str
    province_code: str
    zip: str
    country: str
    country_code: str


@dataclass(frozen=True)
class Person:
    """One generated person as one system holds them.

    ``email`` and ``phone`` are written the way this system has them (maybe mixed case,
    maybe a national phone format); ``email_normalized`` and ``phone_e164`` are the truth
    identity resolution should arrive at.
    """

    key: int
    first_name: str
    last_name: str
    email: str
    phone: str | None
    phone_e164: str | None
    phone_national: str | None
    address: Address
    tags: tuple[str, ...]
    company: str | None
    marketing_opt_in: bool

    @property
    def name(self) -> str:
        """First and last name."""
        return f"{self.first_name} {self.last_name}"

    @property
    def email_normalized(self) -> str:
        """The e-mail address trimmed and lower-cased."""
        return self.email.strip().lower()

    def variant(self, rng: random.Random) -> Person:
        """The same person as a second system holds them: other e-mail case, other phone format."""
        email = vary_email_case(self.email, rng)
        phone = self.phone
        if self.phone_e164 is not None and self.phone_national is not None:
            country = self.address.country_code
            choices = [
                i
                for i in range(len(_PHONE_FORMATS[country]))
                if _fmt(country, i, self.phone_national) != self.phone
            ]
            phone = _fmt(country, rng.choice(choices), self.phone_national)
        return replace(self, email=email, phone=phone)


# --- name and place data ---------------------------------------------------------------------

_FIRST = {
    "US": [
        "James",
        "Mary",
        "Robert",
        "Patricia",
        "Michael",
        "Jennifer",
        "David",
        "Linda",
        "Tyrone",
        "Keisha",
    ],
    "CA": ["Liam", "Olivia", "Noah", "Chloé", "Étienne", "Maya"],
    "GB": ["Oliver", "Amelia", "Harry", "Isla", "George", "Siobhan", "Rhys", "Zoë"],
    "DE": ["Lukas", "Anna", "Jürgen", "Sophie", "Maximilian", "Lea", "Björn", "Jörg"],
    "FR": ["Lucas", "Léa", "Hugo", "Chloé", "Théo", "Inès", "François", "Manon"],
    "NL": ["Daan", "Emma", "Sem", "Julia", "Bram", "Fleur"],
    "ES": ["Hugo", "Lucía", "Martín", "Sofía", "José", "Begoña"],
    "AU": ["Jack", "Charlotte", "William", "Mia", "Lachlan", "Matilda"],
}
_LAST = {
    "US": [
        "Smith",
        "Johnson",
        "Williams",
        "Brown",
        "Garcia",
        "Miller",
        "Davis",
        "Nguyen",
        "O'Brien",
        "Washington",
    ],
    "CA": ["Tremblay", "Gagnon", "Roy", "Côté", "MacDonald", "Wong"],
    "GB": ["Smith", "Jones", "Taylor", "Evans", "Davies", "Wright", "Ó Súilleabháin", "Patel"],
    "DE": ["Müller", "Schmidt", "Schneider", "Fischer", "Weiß", "Becker", "Schäfer", "Groß"],
    "FR": ["Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Girard", "Faure", "Fontaine"],
    "NL": ["de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Visser"],
    "ES": ["García", "Fernández", "González", "Rodríguez", "López", "Martínez"],
    "AU": ["Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor"],
}
# (city, province, province_code, zip pattern: "9" = digit, "A" = letter)
_CITIES = {
    "US": [
        ("Springfield", "Illinois", "IL", "62799"),
        ("Portland", "Oregon", "OR", "97299"),
        ("Austin", "Texas", "TX", "78799"),
        ("Brooklyn", "New York", "NY", "11299"),
    ],
    "CA": [
        ("Toronto", "Ontario", "ON", "M9A 9A9"),
        ("Montréal", "Quebec", "QC", "H9A 9A9"),
        ("Vancouver", "British Columbia", "BC", "V9A 9A9"),
    ],
    "GB": [
        ("London", "England", "ENG", "SW9 9AA"),
        ("Manchester", "England", "ENG", "M9 9AA"),
        ("Cardiff", "Wales", "WLS", "CF9 9AA"),
        ("Edinburgh", "Scotland", "SCT", "EH9 9AA"),
    ],
    "DE": [
        ("Berlin", "Berlin", "BE", "10999"),
        ("München", "Bayern", "BY", "80999"),
        ("Köln", "Nordrhein-Westfalen", "NW", "50999"),
        ("Hamburg", "Hamburg", "HH", "20999"),
    ],
    "FR": [
        ("Paris", "Île-de-France", "IDF", "75099"),
        ("Lyon", "Auvergne-Rhône-Alpes", "ARA", "69009"),
        ("Marseille", "Provence-Alpes-Côte d'Azur", "PAC", "13099"),
    ],
    "NL": [
        ("Amsterdam", "Noord-Holland", "NH", "1099 AA"),
        ("Utrecht", "Utrecht", "UT", "3599 AA"),
    ],
    "ES": [
        ("Madrid", "Madrid", "M", "28099"),
        ("Barcelona", "Barcelona", "B", "08099"),
        ("Sevilla", "Sevilla", "SE", "41099"),
    ],
    "AU": [("Sydney", "New South Wales", "NSW", "2099"), ("Melbourne", "Victoria", "VIC", "3099")],
}
_STREETS = {
    "US": ["Main St", "Oak Avenue", "Maple Drive", "Elm Street", "Sunset Blvd"],
    "CA": ["Queen Street West", "Rue Sainte-Catherine", "Granville Street"],
    "GB": ["High Street", "Station Road", "Church Lane", "Victoria Road"],
    "DE": ["Hauptstraße", "Schulstraße", "Gartenweg", "Bahnhofstraße"],
    "FR": ["rue de la Paix", "avenue Victor Hugo", "boulevard Saint-Germain"],
    "NL": ["Kerkstraat", "Dorpsstraat", "Prinsengracht"],
    "ES": ["Calle Mayor", "Gran Vía", "Avenida de la Constitución"],
    "AU": ["George Street", "Collins Street", "Beach Road"],
}
_COUNTRY_NAMES = {
    "US": "United States",
    "CA": "Canada",
    "GB": "United Kingdom",
    "DE": "Germany",
    "FR": "France",
    "NL": "Netherlands",
    "ES": "Spain",
    "AU": "Australia",
}
_COUNTRY_WEIGHTS = {"US": 30, "CA": 6, "GB": 14, "DE": 18, "FR": 10, "NL": 8, "ES": 7, "AU": 7}
_CALLING_CODES = {
    "US": "1",
    "CA": "1",
    "GB": "44",
    "DE": "49",
    "FR": "33",
    "NL": "31",
    "ES": "34",
    "AU": "61",
}
_DOMAINS = ["example.com", "example.org", "example.net", "mail.example", "inbox.test", "post.test"]
_TAGS = [
    "vip",
    "newsletter",
    "wholesale",
    "returning",
    "b2b",
    "gift-buyer",
    "sale-hunter",
    "eu",
    "influencer",
    "staff",
]
_COMPANIES = ["Acme GmbH", "Globex Ltd", "Initech Inc.", "Umbrella SARL", "Stark BV", "Wayne SL"]


def _us_area(rng: random.Random) -> str:
    return rng.choice(["212", "312", "415", "503", "512", "617", "718", "206"])


def _national_number(country: str, rng: random.Random) -> str:
    """National significant number (no trunk prefix, no country code)."""
    if country in ("US", "CA"):
        area = _us_area(rng) if country == "US" else rng.choice(["416", "514", "604"])
        return f"{area}55501{rng.randint(0, 99):02d}"
    if country == "GB":
        return f"7700900{rng.randint(0, 999):03d}"
    if country == "DE":
        return f"{rng.choice(['151', '160', '170', '176'])}{rng.randint(0, 99_999_999):08d}"
    if country in ("FR", "NL", "ES"):
        return f"6{rng.randint(0, 99_999_999):08d}"
    return f"4{rng.randint(0, 99_999_999):08d}"  # AU mobile


def _nanp(n: str) -> list[str]:
    a, b, c = n[:3], n[3:6], n[6:]
    return [
        f"+1{n}",
        f"({a}) {b}-{c}",
        f"{a}-{b}-{c}",
        f"{a}.{b}.{c}",
        f"+1 {a} {b} {c}",
        f"1-{a}-{b}-{c}",
    ]


def _nanp_style(n: str, style: int) -> str:
    return _nanp(n)[style]


_PHONE_FORMATS: dict[str, list[Callable[[str], str]]] = {
    "US": [functools.partial(_nanp_style, style=i) for i in range(6)],
    "CA": [functools.partial(_nanp_style, style=i) for i in range(6)],
    "GB": [
        lambda n: f"+44{n}",
        lambda n: f"0{n[:4]} {n[4:]}",
        lambda n: f"+44 {n[:4]} {n[4:]}",
        lambda n: f"0{n[:4]}-{n[4:7]}-{n[7:]}",
        lambda n: f"(0{n[:4]}) {n[4:]}",
    ],
    "DE": [
        lambda n: f"+49{n}",
        lambda n: f"0{n[:3]} {n[3:]}",
        lambda n: f"+49 {n[:3]} {n[3:]}",
        lambda n: f"0{n[:3]}-{n[3:7]} {n[7:]}",
        lambda n: f"(0{n[:3]}) {n[3:]}",
        lambda n: f"0049 {n[:3]} {n[3:]}",
    ],
    "FR": [
        lambda n: f"+33{n}",
        lambda n: "0" + " ".join([n[0]] + [n[i : i + 2] for i in range(1, 9, 2)]),
        lambda n: "+33 " + " ".join([n[0]] + [n[i : i + 2] for i in range(1, 9, 2)]),
        lambda n: "0" + ".".join([n[0]] + [n[i : i + 2] for i in range(1, 9, 2)]),
    ],
    "NL": [
        lambda n: f"+31{n}",
        lambda n: f"0{n[0]}-{n[1:]}",
        lambda n: f"+31 {n[0]} {n[1:]}",
        lambda n: f"0{n[0]} {n[1:5]} {n[5:]}",
    ],
    "ES": [
        lambda n: f"+34{n}",
        lambda n: f"+34 {n[:3]} {n[3:6]} {n[6:]}",
        lambda n: f"{n[:3]} {n[3:5]} {n[5:7]} {n[7:]}",
        lambda n: f"{n[:3]}-{n[3:6]}-{n[6:]}",
    ],
    "AU": [
        lambda n: f"+61{n}",
        lambda n: f"0{n[:3]} {n[3:6]} {n[6:]}",
        lambda n: f"+61 {n[:3]} {n[3:6]} {n[6:]}",
        lambda n: f"(0{n[0]}) {n[1:5]} {n[5:]}",
    ],
}


def _fmt(country: str, index: int, national: str) -> str:
    return _PHONE_FORMATS[country][index](national)


def format_phone(country_code: str, national: str, style: int = 0) -> str:
    """Format a national significant number; style 0 is E.164, the others national/spaced forms."""
    formats = _PHONE_FORMATS[country_code]
    return formats[style % len(formats)](national)


def _ascii(text: str) -> str:
    text = text.replace("ß", "ss").replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    text = text.replace("Ä", "Ae").replace("Ö", "Oe").replace("Ü", "Ue")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c in ".-_"))


def _email_local(first: str, last: str, rng: random.Random) -> str:
    f, l_ = _ascii(first).lower(), _ascii(last.replace(" ", "")).lower()
    style = rng.randrange(6)
    if style == 0:
        return f"{f}.{l_}"
    if style == 1:
        return f"{f}{l_}{rng.randint(1, 99)}"
    if style == 2:
        return f"{f[0]}{l_}"
    if style == 3:
        return f"{f}_{l_}"
    if style == 4:
        return f"{l_}.{f}"
    return f"{f}.{l_}+shop"


def vary_email_case(email: str, rng: random.Random) -> str:
    """Return ``email`` in another letter case (same mailbox for identity purposes)."""
    local, _, domain = email.partition("@")
    options = [
        email.upper(),
        ".".join(p[:1].upper() + p[1:] for p in local.split(".")) + "@" + domain,
        local + "@" + domain.upper(),
        ".".join(p[:1].upper() + p[1:] for p in local.split(".")) + "@" + domain.title(),
    ]
    options = [o for o in options if o != email] or [email.swapcase()]
    return rng.choice(options)


def _zip(pattern: str, rng: random.Random) -> str:
    out = []
    for ch in pattern:
        if ch == "9":
            out.append(str(rng.randint(0, 9)))
        elif ch == "A":
            out.append(rng.choice("ABDEFHJLNPRTUWXYZ"))
        else:
            out.append(ch)
    return "".join(out)


def _address(country: str, rng: random.Random) -> Address:
    city, province, code, zip_pattern = rng.choice(_CITIES[country])
    street = rng.choice(_STREETS[country])
    number = str(rng.randint(1, 250))
    line1 = f"{street} {number}" if country in ("DE", "NL", "ES") else f"{number} {street}"
    line2 = rng.choice(["", "", "", f"Apt {rng.randint(1, 40)}", f"Floor {rng.randint(1, 9)}"])
    return Address(
        line1, line2, city, province, code, _zip(zip_pattern, rng), _COUNTRY_NAMES[country], country
    )


def generate_people(n: int, seed: int = 0, countries: Sequence[str] | None = None) -> list[Person]:
    """Generate ``n`` distinct people, deterministically for a given ``seed``.

    :param n: how many people.
    :param seed: seed of the random generator; the same seed gives the same people.
    :param countries: ISO country codes to draw from (default: US, CA, GB, DE, FR, NL, ES, AU).
    :returns: people with unique normalised e-mails; about 10 % have no phone, about 10 %
        have a mixed-case e-mail, about 40 % an E.164 phone and the rest a national format.
    """
    rng = random.Random(seed)
    pool = list(countries or _COUNTRY_WEIGHTS)
    weights = [_COUNTRY_WEIGHTS.get(c, 5) for c in pool]
    seen: set[str] = set()
    people: list[Person] = []
    for key in range(n):
        country = rng.choices(pool, weights)[0]
        first, last = rng.choice(_FIRST[country]), rng.choice(_LAST[country])
        domain = rng.choice(_DOMAINS)
        local = _email_local(first, last, rng)
        email = f"{local}@{domain}"
        suffix = 1
        while email in seen:
            suffix += 1
            email = f"{local}{suffix}@{domain}"
        seen.add(email)
        if rng.random() < 0.1:
            email = vary_email_case(email, rng)
        national: str | None = None
        phone: str | None = None
        e164: str | None = None
        if rng.random() >= 0.1:
            national = _national_number(country, rng)
            e164 = f"+{_CALLING_CODES[country]}{national}"
            style = 0 if rng.random() < 0.4 else rng.randrange(1, len(_PHONE_FORMATS[country]))
            phone = _fmt(country, style, national)
        tags = tuple(sorted(rng.sample(_TAGS, k=rng.choice([0, 0, 1, 1, 2, 3]))))
        company = rng.choice(_COMPANIES) if rng.random() < 0.12 else None
        people.append(
            Person(
                key,
                first,
                last,
                email,
                phone,
                e164,
                national,
                _address(country, rng),
                tags,
                company,
                rng.random() < 0.55,
            )
        )
    return people


def overlapping(people: Sequence[Person], share: float = 0.3, seed: int = 1) -> list[Person]:
    """Pick ``share`` of ``people`` as another shop holds them (see :meth:`Person.variant`).

    Deterministic for a given seed; the result keeps each person's ``key`` so tests can
    pair the two records, and ``email_normalized`` / ``phone_e164`` are unchanged.
    """
    rng = random.Random(seed)
    count = round(len(people) * share)
    chosen = sorted(rng.sample(range(len(people)), count))
    return [people[i].variant(rng) for i in chosen]
