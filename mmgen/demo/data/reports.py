"""The summarization grammar of ``demo/summarize``: a home report in sentences -> its facts in one line.

A *report* opens with the time of day, then states two to five facts in sentences, with filler
sentences between them that say nothing:

    here is the evening report . the radio in the office is on . all is quiet . the temperature
    in the hall is twenty-one degrees . the window in the kitchen is open . that is all for now .

Its *summary* keeps the time and each fact in a few words, in the report's order:

    evening : office radio on ; hall twenty-one degrees ; kitchen window open

Held out of training, so a model scored on held-out reports is scored on facts it never read:
every (room, thing) pair that `held_out_pair` names (one in six, by a hash) and every temperature
in `grammar.HELD_OUT_NUMBERS`. A held-out report holds at least one of them; a training report
holds none. The words are those of the speech grammar (`mmgen.demo.data.speech`).
"""

from __future__ import annotations

import random
import zlib

from mmgen.demo.data import grammar, speech

TIMES = ["morning", "afternoon", "evening", "night"]
FILLERS = ["all is quiet .", "nothing else happened .", "no one came to the door .", "the house is calm .",
           "everything else is fine .", "there is no news from the garden ."]
ENDINGS = ["that is all for now .", "end of report .", "more later ."]
HELD_OUT_ONE_IN = 6
TEMPERATURES = range(0, 100)


def held_out_pair(room: str, thing: str) -> bool:
    return zlib.crc32(f"{room}|{thing}".encode()) % HELD_OUT_ONE_IN == 0


def _fact(rng: random.Random) -> tuple[str, str, bool]:
    """(sentence, summary item, held out?) of one random fact."""
    room = rng.choice(speech.ROOMS)
    kind = rng.random()
    if kind < 0.45:
        device, state = rng.choice(speech.DEVICES), rng.choice(["on", "off"])
        verb = "are" if device == "lights" else "is"
        return f"the {device} in the {room} {verb} {state} .", f"{room} {device} {state}", held_out_pair(room, device)
    if kind < 0.8:
        opening, state = rng.choice(speech.OPENABLE), rng.choice(["open", "closed"])
        verb = "are" if opening in ("curtains", "blinds") else "is"
        return f"the {opening} in the {room} {verb} {state} .", f"{room} {opening} {state}", held_out_pair(room, opening)
    degrees = rng.choice(TEMPERATURES)
    words = grammar.english_number(degrees)
    unit = "degree" if degrees == 1 else "degrees"
    return (f"the temperature in the {room} is {words} {unit} .", f"{room} {words} {unit}",
            degrees in grammar.HELD_OUT_NUMBERS)


def report(rng: random.Random, held_out: bool = False) -> tuple[str, str]:
    """(report, summary) of the training side, or of the held-out side."""
    while True:
        time = rng.choice(TIMES)
        facts = [_fact(rng) for _ in range(rng.randint(2, 5))]
        if any(f[2] for f in facts) != held_out:
            continue
        sentences = [f"here is the {time} report ."]
        for sentence, _, _ in facts:
            sentences.append(sentence)
            if rng.random() < 0.4:
                sentences.append(rng.choice(FILLERS))
        if rng.random() < 0.5:
            sentences.append(rng.choice(ENDINGS))
        return " ".join(sentences), f"{time} : " + " ; ".join(item for _, item, _ in facts)


def reports(count: int, seed: int, held_out: bool = False) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [report(rng, held_out) for _ in range(count)]


__all__ = ["ENDINGS", "FILLERS", "HELD_OUT_ONE_IN", "TEMPERATURES", "TIMES", "held_out_pair", "report", "reports"]
