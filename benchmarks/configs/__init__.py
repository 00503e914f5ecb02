"""Named training recipes (every hyper-parameter stated): :mod:`.coco` (official HRNet and
SimpleBaseline COCO configs) and :mod:`.posetrack18` (mmpose's PoseTrack18 fine-tuning)."""
