"""Summaries of timing samples: median, p95, p99 (linear interpolation between ranks)."""

import statistics


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return None
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(samples_ms):
    """{n, median, p95, p99, min, max} of samples in milliseconds, rounded to 0.01 ms."""
    if not samples_ms:
        return {"n": 0}
    return {
        "n": len(samples_ms),
        "median": round(statistics.median(samples_ms), 2),
        "p95": round(percentile(samples_ms, 95), 2),
        "p99": round(percentile(samples_ms, 99), 2),
        "min": round(min(samples_ms), 2),
        "max": round(max(samples_ms), 2),
    }
