"""The demo's verdict column: a gain counts only when it exceeds the spread over splits."""
from avbench.cli.demo import verdict


def test_verdict_needs_a_gain_larger_than_the_split_spread():
    assert verdict(16.7, 5.9, 16.7, 11.8) == "within noise"   # the rhythm-world checkpoint's ESC-50 row (README)
    assert verdict(25.9, 3.2, 27.8, 11.1) == "within noise"   # +1.9 against a std of 11.1
    assert verdict(20.0, 2.0, 30.0, 3.0) == "beats random"
    assert verdict(30.0, 2.0, 20.0, 3.0) == "below random"
    assert verdict(20.0, 2.0, 22.0, 2.0) == "within noise"    # equal to the spread is not a gain
