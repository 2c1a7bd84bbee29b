"""The texts a text task takes: one string or a sequence of strings, checked before any work."""

from __future__ import annotations

from collections.abc import Sequence

from mmgen.inputs.errors import InputError


def as_texts(texts: str | Sequence[str], task: str) -> list[str]:
    """``texts`` as a list of strings; an `InputError` naming the first item that is not one.

    task: the function's name for the message (``"translate"``).
    """
    batch = [texts] if isinstance(texts, str) else texts
    if not isinstance(batch, Sequence):
        raise InputError(f"a {type(texts).__name__}", f"{task}() takes a string or a list of strings",
                         "pass a list of texts")
    batch = list(batch)
    for index, text in enumerate(batch):
        if not isinstance(text, str):
            if text is None:
                shown = "None"
            elif isinstance(text, (int, float, bool)):
                shown = f"the {type(text).__name__} {text!r}"
            else:
                shown = f"a {type(text).__name__}"
            raise InputError(f"texts[{index}]", f"{task}() takes strings and this item is {shown}",
                             "pass each text as a str (str(value) for a number; a file's text with read_text)")
    return batch


__all__ = ["as_texts"]
