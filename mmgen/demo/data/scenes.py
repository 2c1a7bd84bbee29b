"""Rendered scenes and their captions, for ``demo/caption``: one or two flat shapes on a plain background.

One shape: "a red circle on the left" (left, right, at the top, at the bottom, in the center).
Two shapes side by side or stacked: "a blue square to the left of a green triangle", "a yellow
circle above a purple square"; the shape named first is always the left or the upper one, so
every image has exactly one caption. Sizes, positions and shades jitter a little, so a scene
drawn from another seed is a new image with a caption from the same small language.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

IMAGE_SIZE = 64
COLOURS = {"red": (205, 40, 40), "green": (40, 155, 60), "blue": (40, 70, 205), "yellow": (225, 195, 35),
           "purple": (135, 55, 165)}
SHAPES = ("circle", "square", "triangle")
# position -> (caption words, centre as a fraction of the image side)
PLACES = {
    "left": ("on the left", (0.25, 0.5)),
    "right": ("on the right", (0.75, 0.5)),
    "top": ("at the top", (0.5, 0.25)),
    "bottom": ("at the bottom", (0.5, 0.75)),
    "center": ("in the center", (0.5, 0.5)),
}
RELATIONS = {"left of": "to the left of", "above": "above"}
JITTER = {"position": 3.0, "radius": (10.0, 13.0), "pair_radius": (8.0, 10.5), "shade": 25, "background": (205, 250)}


@dataclass(frozen=True)
class Shape:
    kind: str
    colour: str
    x: float  # centre, in pixels
    y: float
    radius: float
    rgb: tuple[int, int, int]

    @property
    def words(self) -> str:
        return f"a {self.colour} {self.kind}"


@dataclass(frozen=True)
class Scene:
    shapes: tuple[Shape, ...]
    background: tuple[int, int, int]
    caption: str


def _shape(rng: random.Random, x: float, y: float, radius: tuple[float, float]) -> Shape:
    colour = rng.choice(list(COLOURS))
    shade = JITTER["shade"]
    rgb = tuple(min(255, max(0, c + rng.randint(-shade, shade))) for c in COLOURS[colour])
    jitter = JITTER["position"]
    return Shape(rng.choice(SHAPES), colour, x + rng.uniform(-jitter, jitter), y + rng.uniform(-jitter, jitter),
                 rng.uniform(*radius), rgb)


def random_scene(rng: random.Random) -> Scene:
    """One scene: half the time a single shape at a named place, otherwise a pair in a relation."""
    grey = rng.randint(*JITTER["background"])
    background = tuple(min(255, grey + rng.randint(-6, 6)) for _ in range(3))
    if rng.random() < 0.5:
        place = rng.choice(list(PLACES))
        words, (fx, fy) = PLACES[place]
        shape = _shape(rng, fx * IMAGE_SIZE, fy * IMAGE_SIZE, JITTER["radius"])
        return Scene((shape,), background, f"{shape.words} {words}")
    relation = rng.choice(list(RELATIONS))
    across = relation == "left of"
    first_at, second_at = (0.28, 0.72)
    main = 0.5 * IMAGE_SIZE
    first = _shape(rng, *((first_at * IMAGE_SIZE, main) if across else (main, first_at * IMAGE_SIZE)), JITTER["pair_radius"])
    second = _shape(rng, *((second_at * IMAGE_SIZE, main) if across else (main, second_at * IMAGE_SIZE)), JITTER["pair_radius"])
    return Scene((first, second), background, f"{first.words} {RELATIONS[relation]} {second.words}")


def render(scene: Scene) -> Image.Image:
    """The scene as an RGB image of IMAGE_SIZE x IMAGE_SIZE."""
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), scene.background)
    draw = ImageDraw.Draw(image)
    for s in scene.shapes:
        x, y, r = s.x, s.y, s.radius
        if s.kind == "circle":
            draw.ellipse((x - r, y - r, x + r, y + r), fill=s.rgb)
        elif s.kind == "square":
            side = 0.9 * r
            draw.rectangle((x - side, y - side, x + side, y + side), fill=s.rgb)
        else:
            draw.polygon([(x, y - r), (x - r, y + 0.8 * r), (x + r, y + 0.8 * r)], fill=s.rgb)
    return image


def scenes(count: int, seed: int) -> list[Scene]:
    """``count`` scenes from a seeded generator."""
    rng = random.Random(seed)
    return [random_scene(rng) for _ in range(count)]


def caption_vocabulary() -> list[str]:
    """Every word a caption can use, sorted."""
    words = {"a", "above"} | set(COLOURS) | set(SHAPES)
    words |= {w for text in [*RELATIONS.values(), *(p[0] for p in PLACES.values())] for w in text.split()}
    return sorted(words)
