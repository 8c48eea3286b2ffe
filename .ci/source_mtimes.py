#!/usr/bin/env python3
"""Gives a fresh clone's unchanged files the modification times they had in
the previous CI run, so cargo (which judges freshness by mtime) does not
rebuild workspace crates whose sources did not change.

    .ci/source_mtimes.py MANIFEST

MANIFEST (kept in the shared build cache beside the artefacts) maps each
tracked path to the git blob it held in the last run and the mtime it had
then. A file whose blob is the same gets that mtime back; every other file
keeps its checkout time (now), which is newer than any artefact in the
cache, so whatever depends on it is rebuilt. The manifest is then rewritten
with this clone's blobs and mtimes.

Why this is safe: a restored mtime is the moment that exact content first
appeared in a CI clone. Any artefact older than that was built from other
content and is still seen as stale; an artefact newer than it was built
from this content, because the manifest holds only the latest blob of each
path and a change of content always gets a new mtime.
"""
import json
import os
import subprocess
import sys


def tracked_blobs() -> dict[str, str]:
    out = subprocess.run(
        ["git", "ls-files", "-s", "-z"], check=True, capture_output=True
    ).stdout.decode()
    blobs = {}
    for entry in filter(None, out.split("\0")):
        meta, path = entry.split("\t", 1)
        mode, blob, _stage = meta.split()
        if mode != "160000":  # submodules have no file here
            blobs[path] = blob
    # A file edited since checkout does not hold its index blob.
    changed = subprocess.run(
        ["git", "diff", "--name-only", "-z"], check=True, capture_output=True
    ).stdout.decode()
    for path in filter(None, changed.split("\0")):
        blobs.pop(path, None)
    return blobs


def main() -> int:
    manifest_path = sys.argv[1]
    try:
        with open(manifest_path) as f:
            previous = json.load(f)
    except (OSError, ValueError):
        previous = {}
    blobs = tracked_blobs()
    restored = 0
    current = {}
    for path, blob in blobs.items():
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        old = previous.get(path)
        if old and old[0] == blob:
            os.utime(path, ns=(old[1], old[1]))
            restored += 1
        current[path] = [blob, os.stat(path).st_mtime_ns]
    tmp = manifest_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(current, f)
    os.replace(tmp, manifest_path)
    print(f"source mtimes: {restored} of {len(current)} files unchanged since the last CI run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
