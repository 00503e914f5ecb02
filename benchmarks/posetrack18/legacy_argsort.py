"""``numpy.argsort`` as numpy 1.x computed it (its default introsort), for arrays with ties.

poseval ranks detections with ``scores.argsort()[::-1]``; where scores are equal the resulting
order - and with it the AP - depends on the sorting algorithm. The official numbers come from
numpy 1.x, whose default argsort is an introsort: median-of-three quicksort partitions, insertion
sort for partitions of at most 16 elements, heapsort below a depth limit. Newer numpy versions
order ties differently. This reproduces the 1.x order exactly; without ties every correct sort
agrees and :func:`argsort` simply calls numpy.
"""
from __future__ import annotations

import numpy as np

SMALL = 15  # ranges with more than 16 elements (hi - lo > 15) are partitioned


def _heapsort(v, a, lo: int, n: int) -> None:
    """numpy 1.x ``aheapsort`` on ``a[lo:lo + n]`` (heap positions 1..n are ``a[lo + k - 1]``)."""

    def sift_down(item, i: int, size: int) -> None:
        j = i << 1
        while j <= size:
            if j < size and v[a[lo + j - 1]] < v[a[lo + j]]:
                j += 1
            if v[item] < v[a[lo + j - 1]]:
                a[lo + i - 1] = a[lo + j - 1]
                i, j = j, j + j
            else:
                break
        a[lo + i - 1] = item

    for start in range(n >> 1, 0, -1):
        sift_down(a[lo + start - 1], start, n)
    while n > 1:
        item = a[lo + n - 1]
        a[lo + n - 1] = a[lo]
        n -= 1
        sift_down(item, 1, n)


def legacy_argsort(values: np.ndarray) -> np.ndarray:
    """Ascending argsort with numpy 1.x's introsort tie order (values without NaN)."""
    v = np.asarray(values, dtype=np.float64).tolist()
    num = len(v)
    a = list(range(num))
    if num < 2:
        return np.asarray(a, dtype=np.int64)
    lo, hi = 0, num - 1
    stack = []
    depth = 2 * (num.bit_length() - 1)
    while True:
        if depth < 0:
            _heapsort(v, a, lo, hi - lo + 1)
        else:
            while hi - lo > SMALL:
                mid = lo + ((hi - lo) >> 1)
                if v[a[mid]] < v[a[lo]]:
                    a[mid], a[lo] = a[lo], a[mid]
                if v[a[hi]] < v[a[mid]]:
                    a[hi], a[mid] = a[mid], a[hi]
                if v[a[mid]] < v[a[lo]]:
                    a[mid], a[lo] = a[lo], a[mid]
                pivot = v[a[mid]]
                i, j = lo, hi - 1
                a[mid], a[j] = a[j], a[mid]
                while True:
                    i += 1
                    while v[a[i]] < pivot:
                        i += 1
                    j -= 1
                    while pivot < v[a[j]]:
                        j -= 1
                    if i >= j:
                        break
                    a[i], a[j] = a[j], a[i]
                a[i], a[hi - 1] = a[hi - 1], a[i]
                if i - lo < hi - i:  # the larger part waits on the stack
                    stack.append((i + 1, hi, depth - 1))
                    hi = i - 1
                else:
                    stack.append((lo, i - 1, depth - 1))
                    lo = i + 1
                depth -= 1
            for k in range(lo + 1, hi + 1):  # insertion sort
                item = a[k]
                value = v[item]
                m = k
                while m > lo and value < v[a[m - 1]]:
                    a[m] = a[m - 1]
                    m -= 1
                a[m] = item
        if not stack:
            break
        lo, hi, depth = stack.pop()
    return np.asarray(a, dtype=np.int64)


def argsort(values: np.ndarray, legacy_ties: bool = True) -> np.ndarray:
    """Ascending argsort; with ``legacy_ties`` equal values come in numpy 1.x's order."""
    values = np.asarray(values, dtype=np.float64)
    if not legacy_ties or len(np.unique(values)) == len(values):
        return np.argsort(values, kind="stable")
    return legacy_argsort(values)
