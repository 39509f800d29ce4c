"""Sizes are written one way everywhere: decimal SI units, as the Hugging Face Hub and the Finder write them."""

import pytest

from app.core.units import format_bytes


@pytest.mark.parametrize(("n", "text"), [
    (0, "0 B"),
    (999, "999 B"),
    (1000, "1.0 KB"),
    (512_000, "512 KB"),
    (98_000_000, "98 MB"),
    (4_700_000_000, "4.7 GB"),
    (1_200_000_000_000, "1.2 TB"),
    (9_960_000, "10 MB"),  # 9.96 would print as "10.0": whole numbers from ten up
    (999_700, "1.0 MB"),  # never "1000 KB"
    (2**30, "1.1 GB"),  # a binary GiB is 1.07 decimal GB
    (-3_100_000, "-3.1 MB"),
])
def test_format_bytes_writes_decimal_si_sizes(n, text):
    assert format_bytes(n) == text
