"""The number-phrase grammars of the demo models: English and French, for numbers 0-999.

A *phrase* is a number with an optional size adjective, an optional colour and a noun
("three hundred and twelve small red apples"); a *sentence* puts a phrase (or a bare number)
in one of a few templates. `sentence_pair` draws the same meaning in both languages, so the
pair is a translation example; `english_number` alone feeds the language model's corpus.

French follows the traditional spelling (before the 1990 reform): hyphens below one hundred
except around "et" ("vingt et un", "soixante et onze", "quatre-vingt-un"), "quatre-vingts" and
"deux cents" take an "s" only when they end the number, "un" agrees with a feminine noun
("vingt et une pommes", "cent une fleurs"), adjectives agree in gender and number ("petites
pommes vertes"), size adjectives go before the noun and colours after it, "orange" is invariable,
and zero only appears as a bare number ("le nombre zéro").

Held-out numbers (`HELD_OUT_NUMBERS`) never appear in training data, so a model scored on
sentences built from them is scored on numbers it never saw.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

EN_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
            "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
EN_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]

FR_UNITS = ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "onze", "douze",
            "treize", "quatorze", "quinze", "seize", "dix-sept", "dix-huit", "dix-neuf"]
FR_TENS = ["", "", "vingt", "trente", "quarante", "cinquante", "soixante"]


@dataclass(frozen=True)
class Noun:
    en: str
    en_plural: str
    fr: str
    fr_plural: str
    feminine: bool


@dataclass(frozen=True)
class Adjective:
    """French forms in the order masculine, feminine, masculine plural, feminine plural."""

    en: str
    fr: tuple[str, str, str, str]

    def french(self, feminine: bool, plural: bool) -> str:
        return self.fr[2 * plural + feminine]


NOUNS = [
    Noun("apple", "apples", "pomme", "pommes", True),
    Noun("book", "books", "livre", "livres", False),
    Noun("cat", "cats", "chat", "chats", False),
    Noun("car", "cars", "voiture", "voitures", True),
    Noun("house", "houses", "maison", "maisons", True),
    Noun("dog", "dogs", "chien", "chiens", False),
    Noun("flower", "flowers", "fleur", "fleurs", True),
    Noun("bird", "birds", "oiseau", "oiseaux", False),
    Noun("horse", "horses", "cheval", "chevaux", False),
    Noun("table", "tables", "table", "tables", True),
    Noun("pencil", "pencils", "crayon", "crayons", False),
    Noun("chair", "chairs", "chaise", "chaises", True),
    Noun("boat", "boats", "bateau", "bateaux", False),
    Noun("star", "stars", "étoile", "étoiles", True),
]
COLOURS = [
    Adjective("red", ("rouge", "rouge", "rouges", "rouges")),
    Adjective("green", ("vert", "verte", "verts", "vertes")),
    Adjective("blue", ("bleu", "bleue", "bleus", "bleues")),
    Adjective("black", ("noir", "noire", "noirs", "noires")),
    Adjective("white", ("blanc", "blanche", "blancs", "blanches")),
    Adjective("yellow", ("jaune", "jaune", "jaunes", "jaunes")),
    Adjective("grey", ("gris", "grise", "gris", "grises")),
    Adjective("orange", ("orange", "orange", "orange", "orange")),
]
SIZES = [
    Adjective("small", ("petit", "petite", "petits", "petites")),
    Adjective("big", ("grand", "grande", "grands", "grandes")),
]
# (English, French) around a phrase; "{there}" is "there is" or "there are".
TEMPLATES = [
    ("{np}", "{np}"),
    ("i see {np}", "je vois {np}"),
    ("she has {np}", "elle a {np}"),
    ("we want {np}", "nous voulons {np}"),
    ("they bought {np}", "ils ont acheté {np}"),
    ("{there} {np}", "il y a {np}"),
]
NUMBER_TEMPLATE = ("the number {n}", "le nombre {n}")

# 10% of 20..999, fixed once: never in training data, the translation gate is scored on them.
SPLIT_SEED = 20240505
HELD_OUT_NUMBERS = frozenset(random.Random(SPLIT_SEED).sample(range(20, 1000), 98))
TRAIN_NUMBERS = tuple(n for n in range(1000) if n not in HELD_OUT_NUMBERS)


def english_number(n: int) -> str:
    """0..999 in British English words: "three hundred and twelve", "forty-one"."""
    if not 0 <= n <= 999:
        raise ValueError(f"english_number takes 0..999, got {n}")
    if n < 20:
        return EN_UNITS[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return EN_TENS[tens] + (f"-{EN_UNITS[unit]}" if unit else "")
    hundreds, rest = divmod(n, 100)
    head = f"{EN_UNITS[hundreds]} hundred"
    return head if rest == 0 else f"{head} and {english_number(rest)}"


def _french_below_100(n: int, feminine: bool) -> str:
    one = "une" if feminine else "un"
    if n < 20:
        return one if n == 1 else FR_UNITS[n]
    tens, unit = divmod(n, 10)
    if tens == 7:  # soixante-dix .. soixante-dix-neuf
        return "soixante et onze" if unit == 1 else f"soixante-{FR_UNITS[10 + unit]}"
    if tens >= 8:  # quatre-vingt(s) .. quatre-vingt-dix-neuf
        rest = n - 80
        if rest == 0:
            return "quatre-vingts"  # the "s" stays: nothing follows below one hundred
        return f"quatre-vingt-{one if rest == 1 else FR_UNITS[rest]}"
    if unit == 0:
        return FR_TENS[tens]
    if unit == 1:
        return f"{FR_TENS[tens]} et {one}"
    return f"{FR_TENS[tens]}-{FR_UNITS[unit]}"


def french_number(n: int, feminine: bool = False) -> str:
    """0..999 in French words, agreeing with a feminine noun when ``feminine``."""
    if not 0 <= n <= 999:
        raise ValueError(f"french_number takes 0..999, got {n}")
    if n < 100:
        return _french_below_100(n, feminine)
    hundreds, rest = divmod(n, 100)
    head = "cent" if hundreds == 1 else f"{FR_UNITS[hundreds]} cent"
    if rest == 0:
        return head if hundreds == 1 else head + "s"
    return f"{head} {_french_below_100(rest, feminine)}"


@dataclass(frozen=True)
class Phrase:
    number: int
    noun: Noun
    colour: Adjective | None = None
    size: Adjective | None = None

    @property
    def english(self) -> str:
        plural = self.number != 1
        words = [english_number(self.number)]
        words += [a.en for a in (self.size, self.colour) if a is not None]
        words.append(self.noun.en_plural if plural else self.noun.en)
        return " ".join(words)

    @property
    def french(self) -> str:
        plural, feminine = self.number != 1, self.noun.feminine
        words = [french_number(self.number, feminine)]
        if self.size is not None:
            words.append(self.size.french(feminine, plural))
        words.append(self.noun.fr_plural if plural else self.noun.fr)
        if self.colour is not None:
            words.append(self.colour.french(feminine, plural))
        return " ".join(words)


def random_number(rng: random.Random, numbers: tuple[int, ...] | list[int], minimum: int = 0) -> int:
    """A number from ``numbers``, at least ``minimum``; one draw in three is below one hundred, so the
    irregular small numbers are not drowned by the 900 three-digit ones."""
    small = [n for n in numbers if minimum <= n < 100]
    pool = small if small and rng.random() < 1 / 3 else [n for n in numbers if n >= minimum]
    return rng.choice(pool)


def random_phrase(rng: random.Random, numbers: tuple[int, ...] | list[int]) -> Phrase:
    """A phrase with a number from ``numbers`` (never zero: it only appears bare)."""
    number = random_number(rng, numbers, minimum=1)
    colour = rng.choice(COLOURS) if rng.random() < 0.7 else None
    size = rng.choice(SIZES) if rng.random() < 0.3 else None
    return Phrase(number, rng.choice(NOUNS), colour, size)


def sentence_pair(rng: random.Random, numbers: tuple[int, ...] | list[int]) -> tuple[str, str]:
    """One (English, French) sentence whose number is drawn from ``numbers``."""
    if rng.random() < 0.1:
        n = random_number(rng, numbers)
        en, fr = NUMBER_TEMPLATE
        return en.format(n=english_number(n)), fr.format(n=french_number(n))
    phrase = random_phrase(rng, numbers)
    en, fr = rng.choice(TEMPLATES)
    there = "there is" if phrase.number == 1 else "there are"
    return en.format(np=phrase.english, there=there), fr.format(np=phrase.french)


def sentence_pairs(count: int, seed: int, held_out: bool = False) -> list[tuple[str, str]]:
    """``count`` pairs from a seeded generator: training numbers, or only held-out ones."""
    rng = random.Random(seed)
    numbers = sorted(HELD_OUT_NUMBERS) if held_out else TRAIN_NUMBERS
    return [sentence_pair(rng, numbers) for _ in range(count)]


# Counting lines for the language model: "count up : seven , eight , nine , ten , eleven , twelve ."
# The step is fixed by the head and every line holds COUNT_LENGTH numbers, so a line's
# continuation is determined by its head and first number.
COUNT_STEPS = {"count up": 1, "count down": -1, "count by twos": 2, "count by tens": 10}
COUNT_LENGTH = 6


def counting_line(rng: random.Random, starts: tuple[int, ...] | list[int]) -> str:
    """A line of COUNT_LENGTH numbers that starts at a number from ``starts`` and stays in 0..999."""
    while True:
        head, step = rng.choice(list(COUNT_STEPS.items()))
        start = random_number(rng, starts)
        if 0 <= start + step * (COUNT_LENGTH - 1) <= 999:
            break
    numbers = " , ".join(english_number(start + step * i) for i in range(COUNT_LENGTH))
    return f"{head} : {numbers} ."


def counting_lines(count: int, seed: int, held_out: bool = False) -> list[str]:
    """``count`` lines from a seeded generator; held-out lines start at held-out numbers only."""
    rng = random.Random(seed)
    starts = sorted(HELD_OUT_NUMBERS) if held_out else TRAIN_NUMBERS
    return [counting_line(rng, starts) for _ in range(count)]
