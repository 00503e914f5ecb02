"""Command-line applications composing detectors, pose and tracker."""
