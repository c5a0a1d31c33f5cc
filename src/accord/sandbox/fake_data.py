"""Small, deterministic NZ/AU-flavoured fake data for the sandboxes (no Faker).

Every function takes the caller's ``random.Random`` so a seed fixes the output.
``ExoRows`` builds the rows of a whole Exo-shaped database in memory.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

FIRST_NAMES = (
    "Anna", "Aroha", "Ben", "Charlotte", "Chloe", "Daniel", "David", "Emily", "Emma",
    "Grace", "Hamish", "Hannah", "Hemi", "Isla", "Jack", "James", "Jessica", "John",
    "Kate", "Liam", "Lucy", "Mackenzie", "Manaia", "Mere", "Mia", "Michael", "Nikau",
    "Olivia", "Oliver", "Priya", "Rachel", "Rawiri", "Rangi", "Ruby", "Sam", "Sarah",
    "Sione", "Sophie", "Tāne", "Tama", "Tom", "Wiremu", "William", "Zoe", "Aditi",
    "Chen", "Mei", "Raj", "Lachlan", "Siobhan",
)  # fmt: skip

LAST_NAMES = (
    "Anderson", "Brown", "Campbell", "Chen", "Clarke", "Cooper", "Davies", "Edwards",
    "Fifita", "Harris", "Henare", "Jones", "Kaur", "Kelly", "King", "Lee", "MacDonald",
    "Martin", "Mitchell", "Morris", "Ngata", "O'Brien", "Parata", "Patel", "Robinson",
    "Ross", "Scott", "Singh", "Smith", "Stewart", "Taylor", "Te Whata", "Thompson",
    "Tuhiwai", "Walker", "Wang", "Watson", "White", "Williams", "Wilson", "Wong", "Young",
    "van der Berg", "Fa'amausili", "McKenzie", "Ngāwhika", "Bennett", "Hughes",
)  # fmt: skip

PLACE_WORDS = (
    "Harbour", "Southern", "Kauri", "Pacific", "Tasman", "Coastal", "Kiwi", "Summit",
    "Rimu", "Totara", "Alpine", "Bay", "Northern", "Riverside", "Hillside", "Capital",
    "Meridian", "Takahe", "Pohutukawa", "Manuka", "Waitematā", "Canterbury", "Otago",
    "Waikato", "Redwood", "Bluestone", "Silver Fern", "Southern Cross", "Ironbark",
    "Wattle", "Coral", "Outback", "Eastside", "Westgate", "Anchor", "Lighthouse",
)  # fmt: skip

TRADES = (
    "Plumbing", "Electrical", "Builders", "Hardware", "Motors", "Engineering",
    "Landscaping", "Roofing", "Joinery", "Concrete", "Cafe", "Bakery", "Butchery",
    "Pharmacy", "Veterinary Clinic", "Dental", "Accounting", "Freight", "Logistics",
    "Print", "Signs", "Glass", "Paint Supplies", "Timber", "Farm Supplies", "Irrigation",
    "Marine", "Cycles", "Outdoor", "Garden Centre", "Liquor", "Fresh Produce",
    "Seafoods", "Meats", "Coffee Roasters", "Brewing Co", "Medical Centre", "Optometrists",
)  # fmt: skip

SUFFIXES = {
    "NZ": ("Ltd", "Limited", "Ltd", "& Co", "Group", "", "", "Trust", "Ltd"),
    "AU": ("Pty Ltd", "Pty Ltd", "Pty Limited", "& Co", "Group", "", "Trust"),
}

STREET_NAMES = {
    "NZ": (
        "Queen", "Victoria", "Cuba", "Lambton", "Colombo", "Princes", "Dominion",
        "Great South", "Karangahape", "Ponsonby", "Manners", "Hereford", "Cashel", "Devon",
        "Grey", "Ward", "Tory", "Khyber Pass", "Jervois", "Riccarton", "Tamaki", "Hutt",
        "Te Rapa", "Cameron", "Heretaunga", "Gloucester", "Rata", "Kowhai", "Titirangi",
    ),
    "AU": (
        "George", "Pitt", "Collins", "Flinders", "Adelaide", "Elizabeth", "Bourke",
        "Swanston", "Hay", "Murray", "Rundle", "Ann", "Parramatta", "Oxford", "Sturt",
    ),
}  # fmt: skip

STREET_TYPES = ("Street", "Road", "Avenue", "Terrace", "Drive", "Place", "Crescent", "Lane")


@dataclass(frozen=True)
class City:
    name: str
    country: str  # "NZ" or "AU"
    area_code: str  # national trunk code, e.g. "09"
    postcode_low: int
    postcode_high: int
    suburbs: tuple[str, ...]


CITIES = (
    City("Auckland", "NZ", "09", 1010, 2699, ("Ponsonby", "Parnell", "Mt Eden", "Onehunga",
         "Takapuna", "Grey Lynn", "Penrose", "East Tāmaki")),
    City("Wellington", "NZ", "04", 6011, 6037, ("Te Aro", "Thorndon", "Kilbirnie", "Newtown")),
    City("Lower Hutt", "NZ", "04", 5010, 5019, ("Petone", "Naenae", "Seaview")),
    City("Christchurch", "NZ", "03", 8011, 8083, ("Riccarton", "Sydenham", "Addington",
         "Hornby", "Papanui")),
    City("Hamilton", "NZ", "07", 3200, 3216, ("Frankton", "Hillcrest", "Te Rapa")),
    City("Tauranga", "NZ", "07", 3110, 3118, ("Mt Maunganui", "Greerton", "Papamoa")),
    City("Dunedin", "NZ", "03", 9010, 9035, ("St Kilda", "Mosgiel", "Caversham")),
    City("Palmerston North", "NZ", "06", 4410, 4414, ("Hokowhitu", "Terrace End")),
    City("Napier", "NZ", "06", 4110, 4112, ("Ahuriri", "Taradale", "Onekawa")),
    City("Nelson", "NZ", "03", 7010, 7011, ("Stoke", "Tāhunanui")),
    City("Whangārei", "NZ", "09", 110, 112, ("Kensington", "Onerahi")),
    City("New Plymouth", "NZ", "06", 4310, 4312, ("Fitzroy", "Westown")),
    City("Rotorua", "NZ", "07", 3010, 3015, ("Ngongotahā", "Fenton Park")),
    City("Invercargill", "NZ", "03", 9810, 9812, ("Waikiwi", "Gladstone")),
    City("Queenstown", "NZ", "03", 9300, 9305, ("Frankton", "Arthurs Point")),
    City("Whanganui", "NZ", "06", 4500, 4501, ("Gonville", "Aramoho")),
    City("Sydney NSW", "AU", "02", 2000, 2234, ("Surry Hills", "Parramatta", "Chatswood")),
    City("Melbourne VIC", "AU", "03", 3000, 3207, ("Fitzroy", "St Kilda", "Richmond")),
    City("Brisbane QLD", "AU", "07", 4000, 4179, ("Fortitude Valley", "South Brisbane")),
    City("Perth WA", "AU", "08", 6000, 6199, ("Subiaco", "Fremantle")),
    City("Adelaide SA", "AU", "08", 5000, 5173, ("Norwood", "Glenelg")),
)  # fmt: skip
NZ_CITIES = tuple(city for city in CITIES if city.country == "NZ")

JOB_TITLES = (
    "Owner", "Director", "Managing Director", "Accounts Payable", "Accounts Manager",
    "Office Manager", "Purchasing Officer", "Store Manager", "Operations Manager",
    "Buyer", "Receptionist", "Workshop Foreman", "Practice Manager", "Head Chef",
    "Procurement Lead", "General Manager", "Financial Controller", "Site Supervisor",
)  # fmt: skip

SALUTATIONS = ("Mr", "Ms", "Mrs", "Dr", "Miss", "Mx")

NOTES = (
    "Prefers email over phone.",
    "Best to call before 10am.",
    "Visit on Tuesdays; orders for the fortnight.",
    "Send statements to the accounts inbox, not this person.",
    "Met at the Fieldays stand.",
    "Away over January.",
    "Ask for the trade discount sheet.",
    "Deliveries via the rear loading dock.\nGate code at reception.",
)

EMAIL_BOXES = ("accounts", "info", "admin", "office", "orders", "hello", "sales")


def ascii_fold(text: str) -> str:
    """``Tāne O'Brien`` -> ``Tane OBrien``: strip accents and anything but letters/digits/space."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^A-Za-z0-9 ]", "", plain)


def business_name(rng: random.Random, country: str = "NZ") -> str:
    style = rng.random()
    trade = rng.choice(TRADES)
    if style < 0.7:
        stem = f"{rng.choice(PLACE_WORDS)} {trade}"
    elif style < 0.9:
        stem = f"{rng.choice(LAST_NAMES)} {trade}"
    else:
        stem = f"{rng.choice(LAST_NAMES)} & {rng.choice(LAST_NAMES)} {trade}"
    suffix = rng.choice(SUFFIXES[country])
    return f"{stem} {suffix}" if suffix else stem


def domain_for(name: str, country: str) -> str:
    words = [w for w in ascii_fold(name).lower().split() if w not in {"ltd", "limited", "pty"}]
    stem = "".join(words)[:24] or "company"
    return f"{stem}.{'com.au' if country == 'AU' else 'co.nz'}"


def alphacode(name: str) -> str:
    return ascii_fold(name).upper().replace(" ", "")[:10]


def phone(rng: random.Random, city: City) -> str:
    """A landline in one of the mixed ways people type them in."""
    if city.country == "AU":
        a, b = rng.randrange(1000, 10000), rng.randrange(1000, 10000)
        fmt = rng.randrange(3)
        if fmt == 0:
            return f"({city.area_code}) {a} {b}"
        if fmt == 1:
            return f"+61 {city.area_code[1:]} {a} {b}"
        return f"{city.area_code}{a}{b}"
    a, b = rng.randrange(200, 1000), rng.randrange(1000, 10000)
    fmt = rng.randrange(5)
    if fmt == 0:
        return f"{city.area_code} {a} {b}"
    if fmt == 1:
        return f"({city.area_code}) {a} {b}"
    if fmt == 2:
        return f"+64 {city.area_code[1:]} {a} {b}"
    if fmt == 3:
        return f"{city.area_code}{a}{b}"
    return f"{city.area_code}-{a}-{b}"


def mobile(rng: random.Random, city: City) -> str:
    if city.country == "AU":
        a, b, c = rng.randrange(400, 500), rng.randrange(100, 1000), rng.randrange(100, 1000)
        return f"0{a} {b} {c}" if rng.random() < 0.6 else f"+61 {a} {b} {c}"
    prefix = rng.choice(("21", "22", "27", "29", "20"))
    a, b = rng.randrange(100, 1000), rng.randrange(1000, 10000)
    fmt = rng.randrange(3)
    if fmt == 0:
        return f"0{prefix} {a} {b}"
    if fmt == 1:
        return f"+64 {prefix} {a} {b}"
    return f"0{prefix}{a}{b}"


def street_address(rng: random.Random, country: str = "NZ") -> str:
    number = str(rng.randrange(1, 400))
    if rng.random() < 0.15:
        number = f"Unit {rng.randrange(1, 20)}, {number}"
    return f"{number} {rng.choice(STREET_NAMES[country])} {rng.choice(STREET_TYPES)}"


def postcode(rng: random.Random, city: City) -> str:
    return f"{rng.randint(city.postcode_low, city.postcode_high):04d}"


def person_email(first: str, last: str, domain: str, rng: random.Random) -> str:
    f = ascii_fold(first).lower().replace(" ", "")
    l_ = ascii_fold(last).lower().replace(" ", "")
    style = rng.randrange(3)
    local = f"{f}.{l_}" if style == 0 else (f"{f[:1]}{l_}" if style == 1 else f)
    return f"{local[:30] or 'contact'}@{domain}"


def malformed_email(first: str, last: str, rng: random.Random) -> str:
    f = ascii_fold(first).lower().replace(" ", "") or "john"
    l_ = ascii_fold(last).lower().replace(" ", "") or "smith"
    return rng.choice(
        (
            f"{f}.{l_}@@example",
            f"{f}.{l_}.example.co.nz",
            f"{f} {l_}@example.co.nz",
            f"{f}.{l_}@",
        )
    )


def name_variant(name: str, rng: random.Random) -> str:
    """The same name typed differently: other case and/or stray spaces (never identical)."""
    options = (name.lower(), name.upper(), f"{name} ", f" {name}", f"{name.lower()} ")
    choices = [o for o in options if o != name]
    return rng.choice(choices)


COPIED_COLUMNS = ("FIRSTNAME", "LASTNAME", "DIRECTPHONE")  # CONTACTS columns DR_CONTACTS repeats

Row = dict[str, Any]


def name_key(first: str | None, last: str | None) -> tuple[str, str]:
    """How name matching sees a person: case and spaces do not count."""
    return (" ".join((first or "").split()).casefold(), " ".join((last or "").split()).casefold())


class ExoRows:
    """Every row of an Exo sandbox, built in memory so inserting is a few executemany calls.

    Keys are explicit (1, 2, ...). After ``build`` the row lists and the counts of the
    awkward cases actually made (``shared_contacts``, ``duplicate_name_pairs``) are set.
    """

    def __init__(
        self, rng: random.Random, now: datetime, customers: int, contacts: int, staff: int
    ) -> None:
        self.rng, self.now = rng, now
        self.n_customers, self.n_contacts, self.n_staff = customers, contacts, staff
        self.staff: list[Row] = []
        self.customers: list[Row] = []
        self.contacts: list[Row] = []
        self.links: list[Row] = []
        self.shared_contacts = 0
        self.duplicate_name_pairs = 0

    def stamp(self) -> datetime:
        """A time in the 30 days before now, to the second."""
        return self.now.replace(microsecond=0) - timedelta(seconds=self.rng.randrange(2592000))

    def build(self, shared: float, duplicate: float, invalid: int) -> ExoRows:
        rng = self.rng
        staff_rows = [self.salesperson(no) for no in range(1, self.n_staff + 1)]
        cities = [rng.choice(NZ_CITIES) if rng.random() < 0.85 else rng.choice(CITIES)
                  for _ in range(self.n_customers)]  # fmt: skip
        customer_rows = [self.customer(i + 1, cities[i]) for i in range(self.n_customers)]
        counts = self.contact_counts()
        contact_rows: list[Row] = []
        own: list[list[int]] = []  # per customer: indexes into contact_rows
        for customer, city, count in zip(customer_rows, cities, counts, strict=True):
            taken: set[tuple[str, str]] = set()
            own.append(list(range(len(contact_rows), len(contact_rows) + count)))
            for _ in range(count):
                contact_rows.append(self.contact(len(contact_rows) + 1, customer, city, taken))
        pairs = self.duplicate_names(own, contact_rows, duplicate)
        for i in rng.sample(range(len(contact_rows)), invalid):
            row = contact_rows[i]
            row["EMAIL"] = malformed_email(row["FIRSTNAME"], row["LASTNAME"], rng)
        link_rows: list[Row] = []
        for customer, mine in zip(customer_rows, own, strict=True):
            if mine:
                default = rng.choice(mine)
                if rng.random() < 0.8:
                    customer["STATEMENT_CONTACT_SEQNO"] = default + 1
                for c in mine:
                    link_rows.append(self.link(customer["ACCNO"], contact_rows[c], c == default))
        shared_count = self.share(own, contact_rows, link_rows, shared)
        for seqno, row in enumerate(link_rows, start=1):
            row["SEQNO"] = seqno
        self.staff, self.customers, self.contacts, self.links = (
            staff_rows,
            customer_rows,
            contact_rows,
            link_rows,
        )
        self.shared_contacts, self.duplicate_name_pairs = shared_count, pairs
        return self

    def contact_counts(self) -> list[int]:
        """1-5 own contacts per customer, summing to the contacts asked for."""
        n, total = self.n_customers, self.n_contacts
        if total <= n:
            return [1] * total + [0] * (n - total)
        counts = [1] * n
        slots = [i for i in range(n) for _ in range(4)]
        for i in self.rng.sample(slots, total - n):
            counts[i] += 1
        return counts

    def salesperson(self, staffno: int) -> Row:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        email = person_email(first, last, "kauriwholesale.co.nz", self.rng)
        active = "N" if staffno == self.n_staff and staffno >= 4 else "Y"
        return {"STAFFNO": staffno, "NAME": f"{first} {last}", "EMAIL": email,
                "ISACTIVE": active, "LAST_UPDATED": self.stamp()}  # fmt: skip

    def customer(self, accno: int, city: City) -> Row:
        rng, staff = self.rng, self.n_staff
        name = business_name(rng, city.country)
        domain = domain_for(name, city.country)
        aged = [Decimal(rng.randrange(0, 800000) if rng.random() < p else 0).scaleb(-2)
                for p in (0.6, 0.3, 0.15, 0.05)]  # fmt: skip
        website = f"www.{domain}" if rng.random() < 0.75 else rng.choice(("", None))
        return {
            "ACCNO": accno,
            "NAME": name,
            "PHONE": phone(rng, city),
            "FAX": phone(rng, city) if rng.random() < 0.2 else None,
            "EMAIL": f"{rng.choice(EMAIL_BOXES)}@{domain}" if rng.random() < 0.9 else None,
            "WEBSITE": website,
            "SALESNO": rng.randint(1, staff) if staff and rng.random() < 0.9 else None,
            "ADDRESS1": street_address(rng, city.country),
            "ADDRESS2": rng.choice(city.suburbs) if rng.random() < 0.6 else None,
            "ADDRESS3": city.name,
            "ADDRESS4": "Australia" if city.country == "AU" else None,
            "ADDRESS5": None,
            "POST_CODE": postcode(rng, city),
            "ISACTIVE": "N" if rng.random() < 0.03 else "Y",
            "LAST_UPDATED": self.stamp(),
            "STATEMENT_CONTACT_SEQNO": None,
            "HEAD_ACCNO": rng.randint(1, accno - 1) if accno > 1 and rng.random() < 0.05 else None,
            "ALPHACODE": alphacode(name),
            "BALANCE": sum(aged, Decimal("0.00")),
            "AGEDBAL0": aged[0], "AGEDBAL1": aged[1], "AGEDBAL2": aged[2], "AGEDBAL3": aged[3],
            "X_ACCORD_ID": None,
        }  # fmt: skip

    def contact(
        self, seqno: int, customer: Mapping[str, Any], city: City, taken: set[tuple[str, str]]
    ) -> Row:
        rng = self.rng
        while True:  # distinct names within a customer; duplicates are made on purpose later
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            if name_key(first, last) not in taken:
                taken.add(name_key(first, last))
                break
        domain = domain_for(customer["NAME"], city.country)
        addressed = rng.random() < 0.2
        return {
            "SEQNO": seqno,
            "SALUTATION": rng.choice(SALUTATIONS) if rng.random() < 0.6 else None,
            "FIRSTNAME": first,
            "LASTNAME": last,
            "TITLE": rng.choice(JOB_TITLES) if rng.random() < 0.7 else None,
            "DIRECTPHONE": phone(rng, city) if rng.random() < 0.6 else None,
            "MOBILE": mobile(rng, city) if rng.random() < 0.6 else None,
            "DIRECTFAX": phone(rng, city) if rng.random() < 0.05 else None,
            "HOMEPHONE": phone(rng, city) if rng.random() < 0.05 else None,
            "EMAIL": person_email(first, last, domain, rng) if rng.random() < 0.75 else None,
            "NOTES": rng.choice(NOTES) if rng.random() < 0.1 else None,
            "ADDRESS1": customer["ADDRESS1"] if addressed else None,
            "ADDRESS2": customer["ADDRESS2"] if addressed else None,
            "ADDRESS3": customer["ADDRESS3"] if addressed else None,
            "ADDRESS4": customer["ADDRESS4"] if addressed else None,
            "ADDRESS5": None,
            "POST_CODE": customer["POST_CODE"] if addressed else None,
            "ISACTIVE": "N" if rng.random() < 0.03 else "Y",
            "COMPANY_ACCNO": customer["ACCNO"],
            "LAST_UPDATED": self.stamp(),
            "X_ACCORD_ID": None,
        }

    @staticmethod
    def link(accno: int, contact: Mapping[str, Any], default: bool) -> Row:
        copies = {name: contact[name] for name in COPIED_COLUMNS}
        return {"SEQNO": None, "ACCNO": accno, "CONTACT_SEQNO": contact["SEQNO"],
                "DEFCONTACT": "Y" if default else "N", **copies}  # fmt: skip

    def duplicate_names(self, own: Sequence[list[int]], rows: list[Row], fraction: float) -> int:
        """Give a second contact of some customers the first one's name, typed differently."""
        eligible = [i for i, mine in enumerate(own) if len(mine) >= 2]
        wanted = round(fraction * self.n_customers) or (1 if fraction > 0 else 0)
        chosen = self.rng.sample(eligible, min(wanted, len(eligible)))
        for index in chosen:
            a, b = (rows[i] for i in self.rng.sample(own[index], 2))
            b["FIRSTNAME"] = name_variant(a["FIRSTNAME"], self.rng)
            b["LASTNAME"] = name_variant(a["LASTNAME"], self.rng)
        return len(chosen)

    def share(
        self,
        own: Sequence[list[int]],
        rows: list[Row],
        links: list[Row],
        fraction: float,
    ) -> int:
        """Link some contacts to 1-2 more accounts (copies refreshed, names kept distinct)."""
        rng, n = self.rng, self.n_customers
        wanted = round(fraction * len(rows)) or (1 if fraction > 0 else 0)
        if n < 2 or not rows:
            return 0
        names: dict[int, set[tuple[str, str]]] = {}
        sizes = [len(mine) for mine in own]
        shared = 0
        for i in rng.sample(range(len(rows)), min(wanted, len(rows))):
            row, extra, linked = rows[i], rng.choice((1, 1, 2)), 0
            key = name_key(row["FIRSTNAME"], row["LASTNAME"])
            homes = {row["COMPANY_ACCNO"]}
            for _ in range(10 * extra):
                if linked == extra:
                    break
                accno = rng.randint(1, n)
                if accno in homes or sizes[accno - 1] >= 5:
                    continue
                if accno not in names:
                    names[accno] = {name_key(rows[c]["FIRSTNAME"], rows[c]["LASTNAME"])
                                    for c in own[accno - 1]}  # fmt: skip
                if key in names[accno]:
                    continue
                names[accno].add(key)
                homes.add(accno)
                sizes[accno - 1] += 1
                links.append(self.link(accno, row, False))
                linked += 1
            shared += linked > 0
        return shared
