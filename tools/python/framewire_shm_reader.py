#!/usr/bin/env python3
"""The shared-memory ring reader, kept at this path for scripts and tests: it runs
clients/python/framewire/shm.py (the Python SDK's reader, standard library only) as a program.

    python3 tools/python/framewire_shm_reader.py NAME --slot N | --latest [--out FILE]
"""
import os
import runpy

runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python", "framewire", "shm.py"), run_name="__main__")
