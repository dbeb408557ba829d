"""``help(eqlatent)`` starts with the public API, and what it shows matches the real signatures.

Why: a researcher's first look at the package is ``help(eqlatent)``; pydoc prints the package
docstring before the submodule list, so the API must be in the docstring's first lines, and
a listed parameter that no longer exists would send them astray.
"""

from __future__ import annotations

import inspect
import pydoc
import re

import eqlatent

FUNCTIONS = ("invariant_projection", "project_nodes", "quotient_distance", "retention")


def test_help_lists_the_public_api_before_anything_else():
    text = pydoc.render_doc(eqlatent, renderer=pydoc.plaintext)
    description = text.index("DESCRIPTION")
    contents = text.index("PACKAGE CONTENTS")
    head = text[description:contents]
    first_paragraph = head.split("Why:")[0]
    for name in (*FUNCTIONS, "FieldProjection", "NodeProjection", "RetentionReport"):
        assert name in first_paragraph, f"{name} is not in the API list at the top of help(eqlatent)"
    assert head.index("Public API") < head.index("Why:")


def test_the_listed_parameters_exist():
    doc = eqlatent.__doc__
    for name in FUNCTIONS:
        shown = re.search(rf"^\s+{name}\(([^)]*)\)", doc, flags=re.M)
        assert shown, f"{name} has no signature line in eqlatent's docstring"
        real = inspect.signature(getattr(eqlatent, name)).parameters
        for part in shown.group(1).split(","):
            param = part.strip().split("=")[0].strip()
            if param and param != "...":
                assert param in real, f"help(eqlatent) shows {name}({param}=...), which it does not take"


def test_everything_in_all_is_importable_from_the_top():
    for name in eqlatent.__all__:
        assert hasattr(eqlatent, name), name
