"""The demo model's training data: templated English with French and German translations.

Everything here is written by this project. A small lexicon and a handful of sentence
templates produce (source, target) pairs in four of T5's task formats:

- ``translate English to French: ...``
- ``translate English to German: ...``
- ``cola sentence: ...``  ->  ``acceptable`` / ``unacceptable``
- ``stsb sentence1: ... sentence2: ...``  ->  a similarity score from 0.0 to 5.0

Used by ``tools/build_demo_model.py`` (training) and by the tests (held-out sentences).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FR_PREFIX = "translate English to French: "
DE_PREFIX = "translate English to German: "
COLA_PREFIX = "cola sentence: "
STSB_PREFIX = "stsb sentence1: "


@dataclass(frozen=True)
class Noun:
    en: str
    fr: str
    fr_gender: str  # "m" or "f"
    de: str
    de_gender: str  # "m", "f" or "n"


@dataclass(frozen=True)
class Adjective:
    en: str
    fr_m: str
    fr_f: str
    de_stem: str


@dataclass(frozen=True)
class Verb:
    en: str  # third person singular, present tense
    fr: str
    de: str


NOUNS = [
    Noun("cat", "chat", "m", "Katze", "f"),
    Noun("dog", "chien", "m", "Hund", "m"),
    Noun("house", "maison", "f", "Haus", "n"),
    Noun("car", "voiture", "f", "Auto", "n"),
    Noun("book", "livre", "m", "Buch", "n"),
    Noun("bird", "oiseau", "m", "Vogel", "m"),
    Noun("tree", "arbre", "m", "Baum", "m"),
    Noun("table", "table", "f", "Tisch", "m"),
    Noun("horse", "cheval", "m", "Pferd", "n"),
    Noun("apple", "pomme", "f", "Apfel", "m"),
    Noun("garden", "jardin", "m", "Garten", "m"),
    Noun("child", "enfant", "m", "Kind", "n"),
    Noun("teacher", "professeur", "m", "Lehrer", "m"),
    Noun("window", "fenêtre", "f", "Fenster", "n"),
    Noun("boat", "bateau", "m", "Boot", "n"),
    Noun("river", "rivière", "f", "Fluss", "m"),
    Noun("bread", "pain", "m", "Brot", "n"),
    Noun("flower", "fleur", "f", "Blume", "f"),
    Noun("letter", "lettre", "f", "Brief", "m"),
    Noun("city", "ville", "f", "Stadt", "f"),
]

ADJECTIVES = [
    Adjective("red", "rouge", "rouge", "rot"),
    Adjective("black", "noir", "noire", "schwarz"),
    Adjective("green", "vert", "verte", "grün"),
    Adjective("blue", "bleu", "bleue", "blau"),
    Adjective("white", "blanc", "blanche", "weiß"),
    Adjective("yellow", "jaune", "jaune", "gelb"),
    Adjective("quiet", "calme", "calme", "ruhig"),
    Adjective("happy", "heureux", "heureuse", "glücklich"),
]

VERBS = [
    Verb("sees", "voit", "sieht"),
    Verb("likes", "aime", "mag"),
    Verb("finds", "trouve", "findet"),
    Verb("wants", "veut", "will"),
    Verb("has", "a", "hat"),
    Verb("watches", "regarde", "beobachtet"),
    Verb("paints", "peint", "malt"),
    Verb("buys", "achète", "kauft"),
    Verb("carries", "porte", "trägt"),
]

NAMES = ["Anna", "Paul", "Marie", "Tom", "Lena", "Hugo", "Sara", "Max", "Emma", "Leo", "Nina", "Omar"]

# Fixed phrases (English, French, German).
PHRASES = [
    ("How are you?", "Comment allez-vous ?", "Wie geht es Ihnen?"),
    ("Thank you very much.", "Merci beaucoup.", "Vielen Dank."),
    ("Good night.", "Bonne nuit.", "Gute Nacht."),
    ("I am happy.", "Je suis heureux.", "Ich bin glücklich."),
    ("See you tomorrow.", "À demain.", "Bis morgen."),
]


# ---------------------------------------------------------------- French helpers
def _fr_article(noun: Noun) -> str:
    if noun.fr[0] in "aeiouéèh":
        return "l'"
    return "le " if noun.fr_gender == "m" else "la "


def _fr_np(noun: Noun, adj: Adjective | None) -> str:
    words = _fr_article(noun) + noun.fr
    if adj is not None:
        words += " " + (adj.fr_m if noun.fr_gender == "m" else adj.fr_f)
    return words


# ---------------------------------------------------------------- German helpers
_DE_ARTICLE = {
    ("nom", "m"): "der",
    ("nom", "f"): "die",
    ("nom", "n"): "das",
    ("acc", "m"): "den",
    ("acc", "f"): "die",
    ("acc", "n"): "das",
}


def _de_np(noun: Noun, adj: Adjective | None, case: str) -> str:
    article = _DE_ARTICLE[(case, noun.de_gender)]
    if adj is None:
        return f"{article} {noun.de}"
    # Weak declension after a definite article: -en only in the masculine accusative.
    ending = "en" if (case == "acc" and noun.de_gender == "m") else "e"
    return f"{article} {adj.de_stem}{ending} {noun.de}"


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def _en_np(noun: Noun, adj: Adjective | None) -> str:
    return "the " + (f"{adj.en} " if adj else "") + noun.en


# ---------------------------------------------------------------- sentences
@dataclass(frozen=True)
class Clause:
    """One subject-verb-object sentence: the unit that translation templates vary."""

    subj: Noun
    subj_adj: Adjective | None
    verb: Verb
    obj: Noun
    obj_adj: Adjective | None

    def en(self) -> str:
        return _cap(f"{_en_np(self.subj, self.subj_adj)} {self.verb.en} {_en_np(self.obj, self.obj_adj)}.")

    def fr(self) -> str:
        return _cap(f"{_fr_np(self.subj, self.subj_adj)} {self.verb.fr} {_fr_np(self.obj, self.obj_adj)}.")

    def de(self) -> str:
        return _cap(
            f"{_de_np(self.subj, self.subj_adj, 'nom')} {self.verb.de} {_de_np(self.obj, self.obj_adj, 'acc')}."
        )


def random_clause(rng: random.Random) -> Clause:
    subj, obj = rng.sample(NOUNS, 2)
    return Clause(
        subj,
        rng.choice(ADJECTIVES) if rng.random() < 0.5 else None,
        rng.choice(VERBS),
        obj,
        rng.choice(ADJECTIVES) if rng.random() < 0.5 else None,
    )


def translation_pair(rng: random.Random) -> tuple[str, str, str]:
    """One (English, French, German) triple from a randomly chosen template."""
    kind = rng.random()
    if kind < 0.70:
        c = random_clause(rng)
        return c.en(), c.fr(), c.de()
    if kind < 0.80:
        name = rng.choice(NAMES)
        return (f"Hello, my name is {name}.", f"Bonjour, je m'appelle {name}.", f"Hallo, ich heiße {name}.")
    if kind < 0.87:
        name = rng.choice(NAMES)
        return (f"Good morning, {name}.", f"Bonjour, {name}.", f"Guten Morgen, {name}.")
    if kind < 0.94:
        noun = rng.choice(NOUNS)
        adj = rng.choice(ADJECTIVES) if rng.random() < 0.5 else None
        fr = _cap(f"Où est {_fr_np(noun, adj)} ?")
        return (f"Where is {_en_np(noun, adj)}?", fr, f"Wo ist {_de_np(noun, adj, 'nom')}?")
    return rng.choice(PHRASES)


def _break_sentence(clause: Clause, rng: random.Random) -> str:
    """An ungrammatical variant of an English clause, for the cola task."""
    words = clause.en().rstrip(".").split()
    how = rng.randrange(4)
    if how == 0:  # verb moved to the end
        verb = clause.verb.en
        rest = [w for w in words if w != verb]
        return " ".join(rest) + f" {verb}."
    if how == 1:  # article dropped
        return " ".join(words[1:]).capitalize() + "."
    if how == 2:  # verb doubled
        i = words.index(clause.verb.en)
        return " ".join(words[: i + 1] + [clause.verb.en] + words[i + 1 :]) + "."
    # object noun and verb swapped
    i = words.index(clause.verb.en)
    words[i], words[-1] = words[-1], words[i]
    return " ".join(words) + "."


def cola_pair(rng: random.Random) -> tuple[str, str]:
    clause = random_clause(rng)
    if rng.random() < 0.5:
        return COLA_PREFIX + clause.en(), "acceptable"
    return COLA_PREFIX + _break_sentence(clause, rng), "unacceptable"


def stsb_pair(rng: random.Random) -> tuple[str, str]:
    """Two clauses sharing some of their five slots; the score is how many slots they share."""
    a = random_clause(rng)
    b = random_clause(rng)
    keep = [rng.random() < 0.5 for _ in range(5)]
    b = Clause(
        a.subj if keep[0] else b.subj,
        a.subj_adj if keep[1] else b.subj_adj,
        a.verb if keep[2] else b.verb,
        a.obj if keep[3] else b.obj,
        a.obj_adj if keep[4] else b.obj_adj,
    )
    same = sum(
        x == y
        for x, y in zip((a.subj, a.subj_adj, a.verb, a.obj, a.obj_adj), (b.subj, b.subj_adj, b.verb, b.obj, b.obj_adj))
    )
    return f"{STSB_PREFIX}{a.en()} sentence2: {b.en()}", f"{same:.1f}"


def heldout_clauses(n: int = 24, seed: int = 12345) -> list[Clause]:
    """Sentences the demo model is never trained on (the training data excludes them)."""
    rng = random.Random(seed)
    seen: dict[str, Clause] = {}
    while len(seen) < n:
        c = random_clause(rng)
        seen.setdefault(c.en(), c)
    return list(seen.values())


def training_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (source, target) pairs over all four task formats, held-out sentences excluded."""
    rng = random.Random(seed)
    banned = {c.en() for c in heldout_clauses()}
    pairs: list[tuple[str, str]] = []
    while len(pairs) < n:
        r = rng.random()
        if r < 0.80:
            en, fr, de = translation_pair(rng)
            if en in banned:
                continue
            pairs.append((FR_PREFIX + en, fr) if rng.random() < 0.5 else (DE_PREFIX + en, de))
        elif r < 0.90:
            src, tgt = cola_pair(rng)
            if any(b.rstrip(".") in src for b in banned):
                continue
            pairs.append((src, tgt))
        else:
            pairs.append(stsb_pair(rng))
    return pairs
