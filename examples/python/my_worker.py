#!/usr/bin/python3
"""The worked example of docs/write-a-worker-python.md: a worker in a dozen lines. For each frame it
publishes a box around the middle quarter and a keypoint at the centre. Stop it with Ctrl-C."""
import os
import sys

from framewire import Worker
from framewire.v1.results_pb2 import Box, Detection, Detections, KeyPoint, KeyPoints


def analyze(frame):
    w, h = frame.width, frame.height  # frame.data holds the JPEG bytes
    box = Detection(box=Box(x=w / 4, y=h / 4, width=w / 2, height=h / 2), score=0.9, class_id=1, label="middle")
    centre = KeyPoints(points=[KeyPoint(id=0, x=w // 2, y=h // 2, confidence=1.0)], point_names={"centre": 0})
    return [Detections(detections=[box]), centre]  # two results for this frame


worker = Worker(analyze, worker_id="my-py-worker", stream=os.environ.get("FW_STREAM", "cam-1"),
                supplier=os.environ.get("FW_SUPPLIER_ADDRESS", "127.0.0.1:50052"),
                gateway=os.environ.get("FW_GATEWAY_ADDRESS", "127.0.0.1:50054"),
                token=os.environ.get("FW_AUTH_TOKEN"))
try:
    stats = worker.run(int(sys.argv[1]) if len(sys.argv) > 1 else 0)  # optional: stop after N frames
    print(stats)
except KeyboardInterrupt:
    worker.stop()
