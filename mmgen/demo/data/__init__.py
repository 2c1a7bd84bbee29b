"""Generators of the demo models' data, offline: the number grammar (`grammar`), espeak-ng speech
(`speech`), rendered shape scenes (`scenes`) and home reports (`reports`). Training scripts use
them to train, tests and notebooks to make held-out inputs; the library never imports them."""
