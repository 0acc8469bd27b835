"""Camera analytics: detections, tracking, line counts, zone occupancy, crowds, on CPU."""
