"""Latency histograms as small BLOBs.

A rollup's histogram has one count per bucket of ``rollups.LATENCY_BOUNDS_MS``
(23 buckets), and an hour of one check fills only two or three of them. The
BLOB lists the non-empty buckets only: one byte for the bucket's index, then
its count as an unsigned LEB128 varint (7 bits a byte, low bits first). An
hour of a 60 s check is about 6 bytes, against about 60 for the JSON list.
"""

from __future__ import annotations

from typing import Sequence

from monitor.rollups import LATENCY_BOUNDS_MS

HISTOGRAM_SIZE = len(LATENCY_BOUNDS_MS) + 1


def encode_histogram(counts: Sequence[int]) -> bytes:
    """The BLOB of a histogram (a list of ``HISTOGRAM_SIZE`` non-negative counts)."""
    if len(counts) != HISTOGRAM_SIZE:
        raise ValueError(f"a histogram has {HISTOGRAM_SIZE} buckets, not {len(counts)}")
    out = bytearray()
    for index, count in enumerate(counts):
        if count < 0:
            raise ValueError(f"negative count {count} in bucket {index}")
        if count:
            out.append(index)
            while count >= 0x80:
                out.append(0x80 | (count & 0x7F))
                count >>= 7
            out.append(count)
    return bytes(out)


def decode_histogram(blob: bytes) -> list[int]:
    """The counts of a histogram BLOB; ValueError if it is not one."""
    counts = [0] * HISTOGRAM_SIZE
    at, end = 0, len(blob)
    while at < end:
        index = blob[at]
        if index >= HISTOGRAM_SIZE:
            raise ValueError(f"bucket {index} out of range in a histogram BLOB")
        at += 1
        count, shift = 0, 0
        while True:
            if at >= end:
                raise ValueError("truncated histogram BLOB")
            byte = blob[at]
            at += 1
            count |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        counts[index] += count
    return counts


def add_histograms(old: bytes | None, new: bytes) -> bytes:
    """SQL function ``vigie_histogram_add``: the sum of two histogram BLOBs (``old`` may be NULL)."""
    if not old:
        return new
    return encode_histogram([a + b for a, b in zip(decode_histogram(old), decode_histogram(new))])
