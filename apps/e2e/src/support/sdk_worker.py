"""A worker of the Python SDK for the e2e tests: Worker(**argv[1] as JSON) with a callback that
returns one Detection per frame (its sequence as the label) and prints each frame it analysed as a
JSON line (with "commands": true, a command handler too); SIGTERM stops it gracefully, and it prints its stats last."""
import dataclasses
import json
import signal
import sys

from framewire import CommandRefused, Worker
from framewire.v1 import results_pb2


def analyze(frame):
    print(json.dumps({"analyzed": frame.sequence, "stream_id": frame.stream_id}), flush=True)
    return results_pb2.Detections(detections=[results_pb2.Detection(
        box=results_pb2.Box(x=0, y=0, width=frame.width, height=frame.height), score=0.5, class_id=7, label="seq %d" % frame.sequence)])


def on_command(command):
    """worker.set_fps answers with its payload; anything else is refused, naming the type."""
    print(json.dumps({"command": command.type, "request_id": command.request_id}), flush=True)
    if command.type == "worker.set_fps":
        return "fps " + json.loads(command.payload_json)["fps"].__str__()
    raise CommandRefused("command type %r is not handled by this worker" % command.type)


options = json.loads(sys.argv[1])
if options.pop("commands", False):
    options["on_command"] = on_command
max_frames = options.pop("max_frames", 0)
worker = Worker(analyze, **options)
signal.signal(signal.SIGTERM, lambda *_: worker.stop())
print(json.dumps({"instance_id": worker.instance_id}), flush=True)
stats = worker.run(max_frames)
print(json.dumps({"stats": dataclasses.asdict(stats), "publisher": dataclasses.asdict(worker.publisher.stats)}), flush=True)
