"""The analytic models of ``tcpstack experiment`` against hand-computed values."""

from __future__ import annotations

import math

import pytest

from tcpstack.harness.experiments import MATHIS_C, Column, jain_index, mathis_goodput


def test_mathis_constant_is_sqrt_three_halves() -> None:
    assert abs(MATHIS_C - 1.2247449) < 1e-7


@pytest.mark.parametrize(("mss", "rtt", "p", "expected"), [
    # 1460 B / 0.05 s = 29,200 B/s; * 1.2247449 / sqrt(0.01) = 0.1 -> 357,625.5 B/s
    # -> 2,861,004 bit/s.
    (1460, 0.05, 0.01, 2_861_004.1),
    # sqrt(0.0001) = 0.01: 29,200 * 122.47449 = 3,576,255 B/s = 28,610,041 bit/s.
    (1460, 0.05, 0.0001, 28_610_041.0),
    # 1000 B / 0.1 s = 10,000 B/s; / sqrt(0.25) = 0.5 -> 24,494.9 B/s = 195,959.2 bit/s.
    (1000, 0.1, 0.25, 195_959.18),
])
def test_mathis_goodput(mss: int, rtt: float, p: float, expected: float) -> None:
    assert mathis_goodput(mss, rtt, p) == pytest.approx(expected, rel=1e-6)


def test_mathis_scales_as_one_over_sqrt_p() -> None:
    # Four times the loss halves the rate.
    assert mathis_goodput(1460, 0.05, 0.04) * 2 == pytest.approx(mathis_goodput(1460, 0.05, 0.01))


@pytest.mark.parametrize(("mss", "rtt", "p"), [(1460, 0.05, 0.0), (0, 0.05, 0.01),
                                               (1460, 0.0, 0.01), (1460, 0.05, 1.5)])
def test_mathis_refuses_values_out_of_range(mss: int, rtt: float, p: float) -> None:
    with pytest.raises(ValueError, match="Mathis model"):
        mathis_goodput(mss, rtt, p)


@pytest.mark.parametrize(("rates", "expected"), [
    ([5.0, 5.0], 1.0),
    ([10.0, 0.0], 0.5),               # one of two takes all: 1/n
    ([1.0, 0.0, 0.0, 0.0], 0.25),
    ([1.0, 2.0, 3.0], 36 / 42),       # (1+2+3)^2 / (3 * (1+4+9)) = 36/42
    ([3e6, 7e6], 1e14 / (2 * 58e12)),  # 100/(2*58) = 0.862...
    ([4.0], 1.0),
    ([0.0, 0.0], 1.0),                # nobody got anything: nobody got more
])
def test_jain_index(rates: list[float], expected: float) -> None:
    assert jain_index(rates) == pytest.approx(expected)


@pytest.mark.parametrize("rates", [[], [1.0, -1.0], [1.0, math.nan], [math.inf]])
def test_jain_index_refuses_bad_rates(rates: list[float]) -> None:
    with pytest.raises(ValueError, match="Jain"):
        jain_index(rates)


@pytest.mark.parametrize(("fmt", "value", "shown"), [
    (".3f/1e6", 2_861_004.1, "2.861"),
    (".1f/1e-3", 0.0525, "52.5"),
    (".2%", 0.001, "0.10%"),
    (",", 12345, "12,345"),
    ("", "newreno", "newreno"),
    (".3f/1e6", None, "-"),
    (".3f/1e6", [1e6, 2.5e6], "1.000, 2.500"),
])
def test_column_formats(fmt: str, value: object, shown: str) -> None:
    assert Column("k", "K", fmt).show(value) == shown
