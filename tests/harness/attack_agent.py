"""An agent that tries every way we know to get the key it was handed into the run directory,
the console or the collector. Used by test_redaction_attacks.py (run as a real agent under a
real `cab-trace run`); it prints nothing that is not an attempt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

key = os.environ["CAB_KEY"]
half = len(key) // 2
out = sys.stdout


def say(text: str, stream=out) -> None:
    stream.write(text)
    stream.flush()


# 1. colour codes, zero-width and soft hyphens, NUL and backspace overwrites between characters
say("colour: " + "\x1b[0m".join(key) + "\n")
say("zero-width: " + "\u200b".join(key[:half]) + "\u00ad" + key[half:] + "\n")
say("nul: " + "\x00".join(key) + "\n")
say("backspace: " + "".join(c + "X\x08" for c in key) + "\n")
# 2. drawn out of order: the second half first, then \r and the first half; then cursor moves
say(" " * (8 + half) + key[half:] + "\r" + "redraw: " + key[:half] + "\n")
say("moves: " + key[half:] + f"\x1b[{len(key) - half}D\x1b[{half}D" + "\x1b[s" + key[:half] + "\x1b[u\n")
say("osc: \x1b]0;" + key + "\x07title\n")
# 3. JSON-escaped, split over two lines, a piece of it
say('json: {"k": "' + "".join(f"\\u{ord(c):04x}" for c in key) + '"}\n')
say("split: " + key[:half] + "\n" + key[half:] + "\n", sys.stderr)
say("piece: " + key[2:22] + "\n")
# 4. a long line released in parts, the key near the hold limit
say("x" * (16 * 1024 - 10) + " --api-key " + key + " " + "y" * 5000 + "\n")
# 5. slowly, one character at a time
for c in key:
    say(c)
    time.sleep(0.002)
say("\n")
# 6. into files the diff will show: escaped, coloured, split, as a JSON argv
Path("leak.json").write_text(
    json.dumps({"apiKey": key}, ensure_ascii=True).replace(key[0], f"\\u{ord(key[0]):04x}")
)
Path("leak.txt").write_text("a=" + "\x1b[1m".join(key) + "\nb=" + key[:half] + "\n" + key[half:] + "\n")
Path("argv.json").write_text(json.dumps(["--api-key", key]))
# 7. a process that leaves the agent's group and writes the key into the run directory later
run_dir = os.environ.get("ATTACK_RUN_DIR")
if run_dir:
    subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys, time; time.sleep(3); open(sys.argv[1], 'w').write(os.environ['CAB_KEY'])",
         os.path.join(run_dir, "late.txt")],
        start_new_session=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
# 8. cab-trace's own stderr, through /proc (closed to same-user processes by PR_SET_DUMPABLE;
#    root is not stopped by it, so the tests try this one when they run cab-trace as another user)
if os.environ.get("ATTACK_PROC"):
    # Every ancestor (the local runtime's supervisor, then cab-trace), every descriptor.
    opened = []
    pid = os.getppid()
    while pid > 1:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            fds = []
        for fd in fds:
            try:
                with open(f"/proc/{pid}/fd/{fd}", "w") as theirs:
                    theirs.write(f"proc: {key}\n")
                opened.append(f"{pid}/{fd}")
            except OSError:
                pass
        with open(f"/proc/{pid}/stat") as stat:
            pid = int(stat.read().rpartition(")")[2].split()[1])
    say(f"proc: opened {opened}\n" if opened else "proc: refused\n")
