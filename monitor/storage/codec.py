"""Latency histograms as small BLOBs.

A rollup's histogram has one count per bucket of ``rollups.LATENCY_BOUNDS_MS``
(23 buckets), and an hour of one check fills only two or three of them. The
BLOB lists the non-empty buckets only, in bucket order: one byte for the
bucket's index, then its count as an unsigned LEB128 varint (7 bits a byte,
low bits first). An hour of a 60 s check is about 6 bytes, against about 60
for the JSON list. The writer merges BLOBs pair by pair, without the dense list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from monitor.rollups import LATENCY_BOUNDS_MS

HISTOGRAM_SIZE = len(LATENCY_BOUNDS_MS) + 1


def encode_histogram(counts: Sequence[int]) -> bytes:
    """The BLOB of a histogram (a list of ``HISTOGRAM_SIZE`` non-negative counts)."""
    if len(counts) != HISTOGRAM_SIZE:
        raise ValueError(f"a histogram has {HISTOGRAM_SIZE} buckets, not {len(counts)}")
    return encode_buckets((index, count) for index, count in enumerate(counts) if count)


def encode_buckets(buckets: Iterable[tuple[int, int]]) -> bytes:
    """The BLOB of the non-empty buckets (index, count), given in index order."""
    out = bytearray()
    for index, count in buckets:
        if count < 0:
            raise ValueError(f"negative count {count} in bucket {index}")
        out.append(index)
        while count >= 0x80:
            out.append(0x80 | (count & 0x7F))
            count >>= 7
        out.append(count)
    return bytes(out)


def decode_buckets(blob: bytes) -> dict[int, int]:
    """The non-empty buckets of a histogram BLOB, index -> count; ValueError if it is not one."""
    buckets: dict[int, int] = {}
    at, end = 0, len(blob)
    while at < end:
        index = blob[at]
        if index >= HISTOGRAM_SIZE:
            raise ValueError(f"bucket {index} out of range in a histogram BLOB")
        count, shift = 0, 0
        while True:
            at += 1
            if at >= end:
                raise ValueError("truncated histogram BLOB")
            byte = blob[at]
            count |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
        at += 1
        buckets[index] = buckets.get(index, 0) + count
    return buckets


def decode_histogram(blob: bytes) -> list[int]:
    """The counts of a histogram BLOB; ValueError if it is not one."""
    counts = [0] * HISTOGRAM_SIZE
    for index, count in decode_buckets(blob).items():
        counts[index] = count
    return counts


def add_buckets(total: dict[int, int], more: Mapping[int, int]) -> dict[int, int]:
    for index, count in more.items():
        total[index] = total.get(index, 0) + count
    return total


def add_histograms(old: bytes | None, new: bytes) -> bytes:
    """SQL function ``vigie_histogram_add``: the sum of two histogram BLOBs (``old`` may be NULL)."""
    if not old:
        return new
    return encode_buckets(sorted(add_buckets(decode_buckets(old), decode_buckets(new)).items()))
