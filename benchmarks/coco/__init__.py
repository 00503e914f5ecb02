"""COCO keypoint evaluation (and, later, the COCO training recipes)."""
