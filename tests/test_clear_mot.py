"""CLEAR-MOT counting against motmetrics itself."""
import numpy as np
import pytest

from benchmarks.clear_mot import MotAccumulator

mm = pytest.importorskip("motmetrics")
NAMES = ["num_misses", "num_switches", "num_false_positives", "num_objects", "num_detections"]


def test_counts_equal_motmetrics_on_random_sequences():
    rng = np.random.default_rng(0)
    metrics = mm.metrics.create()
    with mm.lap.set_default_solver("scipy"):
        for trial in range(150):
            reference, ours = mm.MOTAccumulator(auto_id=True), MotAccumulator()
            for _ in range(rng.integers(1, 12)):
                no, nh = rng.integers(0, 6), rng.integers(0, 6)
                oids = rng.choice(8, no, replace=False).tolist()
                hids = rng.choice(8, nh, replace=False).tolist()
                d = rng.uniform(0, 1, (no, nh))
                d[rng.uniform(size=d.shape) < 0.4] = np.nan
                if trial % 3 == 0:
                    d = np.round(d, 1)  # ties
                reference.update(oids, hids, d)
                ours.update(oids, hids, d)
            expected = metrics.compute(reference, metrics=NAMES, return_dataframe=False)
            c = ours.counts
            assert (c.misses, c.switches, c.false_positives, c.num_objects,
                    c.num_detections) == tuple(int(expected[n]) for n in NAMES), trial
            events = reference.mot_events
            matched = events[events.Type.isin(["MATCH", "SWITCH"])].D.sum()
            assert c.sum_distance == pytest.approx(matched)


def test_hand_computed_switch_and_miss():
    acc = MotAccumulator()
    acc.update([1, 2], [10, 20], [[0.1, np.nan], [np.nan, 0.2]])  # two matches
    acc.update([1, 2], [10, 20], [[np.nan, 0.1], [0.3, np.nan]])  # both swap: two switches
    acc.update([1, 2], [10], [[0.1], [np.nan]])  # 1 back to 10: switch; 2 missed
    acc.update([1], [10, 30], [[0.1, 0.2]])  # kept pair; 30 is a false positive
    c = acc.counts
    assert (c.matches, c.switches, c.misses, c.false_positives) == (3, 3, 1, 1)
    assert c.num_objects == 7 and c.sum_distance == pytest.approx(0.9)
