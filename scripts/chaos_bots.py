"""The bots of a chaos run, as source text written into its temp folder.

- ``healthy``: writes its pid and a heartbeat line to a file outside the home every 0.5 s
  (a full disk in the home must not make it crash) and runs until its lifetime ends. On
  SIGTERM it notes its pid in ``<beat file>.terms`` (once per signal: a second SIGTERM to
  one process is a violation) and cleans up for ``CLEANUP_S`` before it exits 0, as a bot
  cancelling its orders does; the run kills the supervisor during that clean-up.
- ``crasher``: exits 1 after a short random time: restarts keep the spawn window busy.
- ``escaper``: starts helpers that leave its process tree in every way we know, then crashes:
  its own session (``start_new_session``), a double fork with ``setsid``, a cleared
  environment (``env={}``: no marker), one that ignores SIGTERM, one that renames itself
  (argv[0] and the kernel's comm), and a ghost that does all of these at once.

Every helper writes a pid file (pid, start ticks, the bot process that started it) into the
helpers folder, so the run can find it without a marker. Every bot and helper ends by itself
after ``life_s``: nothing outlives a run that was killed before it could clean up for long.
"""

from __future__ import annotations

CLEANUP_S = 4.0

HEALTHY = """\
import os, signal, sys, time
beat_path, life_s = sys.argv[1], float(sys.argv[2])
end = time.monotonic() + life_s
def on_term(signum, frame):
    global end
    with open(beat_path + ".terms", "a") as terms:
        terms.write(f"{os.getpid()}\\n")
    end = min(end, time.monotonic() + CLEANUP_S)
signal.signal(signal.SIGTERM, on_term)
while time.monotonic() < end:
    try:
        with open(beat_path, "a") as beat:
            beat.write(f"{os.getpid()} {time.time():.3f}\\n")
        print("beat", flush=True)
    except OSError:
        pass  # a full disk is the supervisor's test, not this bot's
    time.sleep(min(0.5, max(0.0, end - time.monotonic())))
""".replace("CLEANUP_S", repr(CLEANUP_S))

CRASHER = """\
import random, sys, time
low_s, high_s = float(sys.argv[1]), float(sys.argv[2])
time.sleep(random.uniform(low_s, high_s))
sys.exit(1)
"""

ESCAPER = """\
import os, random, subprocess, sys, time
helper, folder, tag, life_s = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
low_s, high_s = float(sys.argv[5]), float(sys.argv[6])
with open("/proc/self/stat") as fh:
    ticks = fh.read().rsplit(")", 1)[1].split()[19]
base = [sys.executable, helper, folder, str(os.getpid()), ticks, life_s]
env = dict(os.environ, CHAOS_HELPER=tag)
quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
subprocess.Popen(base + ["session"], env=env, start_new_session=True, **quiet)
subprocess.Popen(base + ["noterm"], env=env, **quiet)
subprocess.Popen(base + ["noenv"], env={}, start_new_session=True, **quiet)
subprocess.Popen(["kworker/u8:1"] + base[1:] + ["renamed"], executable=sys.executable, env=env,
                 start_new_session=True, **quiet)


def double_fork(argv, environ):
    child = os.fork()
    if child == 0:
        os.setsid()
        if os.fork() == 0:
            os.execve(sys.executable, argv, environ)
        os._exit(0)
    os.waitpid(child, 0)


double_fork(base + ["doublefork"], env)
double_fork(["[ghost]"] + base[1:] + ["ghost"], {})
time.sleep(random.uniform(low_s, high_s))
sys.exit(1)
"""

HELPER = """\
import ctypes, json, os, signal, sys, time
folder, owner_pid, owner_ticks, life_s, kind = sys.argv[1:6]
if kind in ("noterm", "ghost"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if kind in ("renamed", "ghost"):
    libc = ctypes.CDLL(None)
    libc.prctl(15, b"kworker", 0, 0, 0)  # PR_SET_NAME
with open("/proc/self/stat") as fh:
    ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
record = {"pid": os.getpid(), "ticks": ticks, "owner_pid": int(owner_pid),
          "owner_ticks": int(owner_ticks), "kind": kind}
path = os.path.join(folder, f"{kind}-{os.getpid()}.json")
with open(path + ".tmp", "w") as fh:
    json.dump(record, fh)
os.replace(path + ".tmp", path)
time.sleep(float(life_s))
"""
