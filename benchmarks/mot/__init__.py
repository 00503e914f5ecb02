"""MOTChallenge-layout sequences: reading and writing their files, scoring box tracks with
motmetrics, the runner (``python -m benchmarks.mot``), and synthetic sequences for tracker
development (``python -m benchmarks.mot.synthetic``)."""
