"""Finding the first byte of a data file that is not UTF-8, whatever the reads' chunk size."""

from easy_mlops.data.loaders import first_invalid_utf8


def test_first_invalid_utf8_across_chunk_boundaries(tmp_path):
    """A character split between two reads is not an error; the bad byte's place is exact."""
    data = "é\n€a\n".encode() * 5 + b"ab\n\xe2\x82(" + b"tail"
    path = tmp_path / "split.csv"
    path.write_bytes(data)
    expected = (data.index(b"\xe2\x82("), data[: data.index(b"\xe2\x82(")].count(b"\n") + 1, 0xE2)
    for chunk_size in (1, 2, 3, 7, 1 << 20):
        assert first_invalid_utf8(path, chunk_size) == expected, chunk_size
    path.write_bytes(data[:-5])  # the file ends inside a character
    assert first_invalid_utf8(path, 2) == expected
    path.write_bytes("fine é\n".encode())
    assert first_invalid_utf8(path) is None
