"""A worker of the Python SDK for the e2e tests: Worker(**argv[1] as JSON) with a callback that
returns one Detection per frame (its sequence as the label) and prints each frame it analysed as a
JSON line; SIGTERM stops it gracefully, and it prints its stats last."""
import dataclasses
import json
import signal
import sys

from framewire import Worker
from framewire.v1 import results_pb2


def analyze(frame):
    print(json.dumps({"analyzed": frame.sequence, "stream_id": frame.stream_id}), flush=True)
    return results_pb2.Detections(detections=[results_pb2.Detection(
        box=results_pb2.Box(x=0, y=0, width=frame.width, height=frame.height), score=0.5, class_id=7, label="seq %d" % frame.sequence)])


options = json.loads(sys.argv[1])
max_frames = options.pop("max_frames", 0)
worker = Worker(analyze, **options)
signal.signal(signal.SIGTERM, lambda *_: worker.stop())
print(json.dumps({"instance_id": worker.instance_id}), flush=True)
stats = worker.run(max_frames)
print(json.dumps({"stats": dataclasses.asdict(stats), "publisher": dataclasses.asdict(worker.publisher.stats)}), flush=True)
