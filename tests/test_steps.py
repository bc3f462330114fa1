"""Step splitting and joining: the three marker styles, and nothing non-blank is lost."""

import pytest
from hypothesis import given, strategies as st

from prmkit.steps import join_steps, split_steps


def test_separator_pattern_and_tag():
    assert split_steps("a\n\nb\n\n\n\nc", separator="\n\n") == ("a", "b", "c")
    assert split_steps("Intro. Step 1: x=1. Step 2: y=2.", pattern=r"Step \d+:") == ("Intro.", "Step 1: x=1.", "Step 2: y=2.")
    assert split_steps("x=1 ки\ny=2 ки", tag="ки") == ("x=1", "y=2")
    assert split_steps("a<extra_0>b<extra_0>tail", tag="<extra_0>") == ("a", "b", "tail")
    assert split_steps("", separator="\n") == ()


def test_exactly_one_marker():
    with pytest.raises(ValueError, match="exactly one"):
        split_steps("a", separator="\n", tag="x")
    with pytest.raises(ValueError, match="exactly one"):
        split_steps("a")


def test_join_then_split_is_identity():
    steps = ("First, 2+2=4.", "Then 4*3=12.", "The answer is 12.")
    assert split_steps(join_steps(steps), separator="\n\n") == steps
    assert split_steps(join_steps(steps, separator="\n", tag=" ки"), tag="ки") == steps


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\n"), min_size=1).map(str.strip).filter(bool), max_size=6))
def test_roundtrip_property(steps):
    assert split_steps(join_steps(steps, separator="\n"), separator="\n") == tuple(steps)


@given(st.text())
def test_no_text_lost(text):
    pieces = split_steps(text, separator="\n\n")
    assert "".join(pieces).replace(" ", "") == "".join(p.strip() for p in text.split("\n\n")).replace(" ", "")
