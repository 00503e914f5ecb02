"""PoseTrack18: the built-in poseval-equivalent evaluator and format converters."""
