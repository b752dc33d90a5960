"""A throw-away one-node SLURM cluster on localhost (for tests/test_slurm.py, or by hand).

    python tests/slurm/cluster.py      # as root: start, print how to use it, stop on Ctrl-C

No systemd and no cgroups: ``munged`` (as the munge user), ``slurmctld -c`` and ``slurmd -N localhost``
are started directly, in the foreground of processes we own, so the PIDs held are the daemons' own and
each is stopped by its PID (SIGTERM, then SIGKILL after 15 s) whatever happens. State, spool, pid
files, logs and munge's socket live in a temporary folder. The configuration
(``tests/slurm/slurm.conf.in``) is written to ``/etc/slurm/slurm.conf`` because the slurm-jobstep
executor plugin drops every ``SLURM_*`` variable (``SLURM_CONF`` too) before its inner ``srun``; the
file that was there before, if any, is put back on exit. SLURM and munge are installed from Debian's
packages when missing. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["ClusterUnavailable", "ensure_installed", "local_cluster"]

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
DAEMONS = {"munged": "/usr/sbin/munged", "slurmctld": "/usr/sbin/slurmctld", "slurmd": "/usr/sbin/slurmd"}
TEMPLATE = Path(__file__).with_name("slurm.conf.in")
CONF = Path("/etc/slurm/slurm.conf")
PARTITION = "test"


class ClusterUnavailable(RuntimeError):
    """This machine cannot host the test cluster (not root, no apt-get); the message says why."""


def _sh(cmd, timeout=60, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def ensure_installed(timeout=600):
    """Install slurmctld, slurmd, slurm-client and munge with apt-get unless already there."""
    if all(Path(p).exists() for p in DAEMONS.values()) and shutil.which("sbatch") and shutil.which("squeue"):
        return
    if os.geteuid() != 0:
        raise ClusterUnavailable("SLURM is not installed and installing it needs root (apt-get)")
    if shutil.which("apt-get") is None:
        raise ClusterUnavailable("SLURM is not installed and apt-get is unavailable")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *PACKAGES]):
        proc = _sh(cmd, timeout=timeout, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem_mb():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 * 9 // 10
    return 4000


def _tails(paths):
    return "".join(f"\n--- {p}:\n" + Path(p).read_text(errors="replace")[-2000:]
                   for p in paths if Path(p).exists())


def _stop(procs):
    """SIGTERM each daemon we started (by PID, newest first), then SIGKILL what is left after 15 s."""
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in reversed(procs):
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def local_cluster(start_timeout=60):
    """Start the cluster; yield {"env", "dir", "partition", "pids"}; stop it and clean up on exit."""
    if os.geteuid() != 0:
        raise ClusterUnavailable("starting slurmd and munged needs root")
    ensure_installed()
    # Not under a 0700 folder (pytest's tmp_path): the munge user must reach its socket folder.
    base = Path(tempfile.mkdtemp(prefix="efficacy-slurm-"))
    base.chmod(0o755)
    munge_dir = base / "munge"
    saved = CONF.read_bytes() if CONF.exists() else None
    if saved is not None and b"efficacy-slurm-" in saved:
        # Left by a run that was killed before its clean-up: not the site's own configuration, so do not
        # restore it. A stale slurm.conf pointing at a dead controller makes every `scontrol` wait ~9 s,
        # and the SLURM executor plugin calls `scontrol show config` each time Snakemake starts.
        saved = None
    procs: list[subprocess.Popen] = []
    logs = [munge_dir / "munged.log", base / "slurmctld.log", base / "slurmd.log"]
    env = {**os.environ, "SLURM_CONF": str(CONF)}

    def start(cmd, **kw):
        with open(base / f"{Path(cmd[0]).name}.out", "w") as out:
            procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                          start_new_session=True, **kw))

    def check_alive():
        dead = [p.args[0] for p in procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{dead} exited:" + _tails([*logs, *sorted(base.glob("*.out"))]))

    def wait(predicate, what):
        end = time.monotonic() + start_timeout
        while time.monotonic() < end:
            check_alive()
            if predicate():
                return
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {start_timeout} s waiting for {what}" + _tails(logs))

    def node_idle():
        proc = _sh(["sinfo", "-h", "-N", "-o", "%T"], timeout=10, env=env)
        return proc.returncode == 0 and proc.stdout.strip() == "idle"

    try:
        munge_dir.mkdir(mode=0o755)
        shutil.chown(munge_dir, "munge", "munge")
        for sub in ("state", "spool"):
            (base / sub).mkdir()
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            _sh(["mungekey", "--create", f"--keyfile={key}"], check=True)
            shutil.chown(key, "munge", "munge")
            key.chmod(0o400)
        CONF.parent.mkdir(parents=True, exist_ok=True)
        CONF.write_text(TEMPLATE.read_text().format(
            dir=base, munge_socket=munge_dir / "munge.socket", ctld_port=_free_port(),
            slurmd_port=_free_port(), cpus=os.cpu_count() or 1, mem_mb=_mem_mb(), partition=PARTITION))
        # Foreground (-F / -D): the PID we hold is the daemon's own.
        start([DAEMONS["munged"], "-F", f"--socket={munge_dir / 'munge.socket'}",
               f"--pid-file={munge_dir / 'munged.pid'}", f"--log-file={munge_dir / 'munged.log'}",
               f"--seed-file={munge_dir / 'munged.seed'}"], user="munge", group="munge")
        wait(lambda: (munge_dir / "munge.socket").exists(), "munged's socket")
        start([DAEMONS["slurmctld"], "-D", "-c", "-f", str(CONF)])
        start([DAEMONS["slurmd"], "-D", "-N", "localhost", "-f", str(CONF)])
        wait(node_idle, "the node to become idle")
        yield {"env": env, "dir": base, "partition": PARTITION, "pids": [p.pid for p in procs]}
    finally:
        _stop(procs)
        if saved is None:
            CONF.unlink(missing_ok=True)
        else:
            CONF.write_bytes(saved)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    with local_cluster() as cluster:
        print(f"SLURM is up (partition {cluster['partition']!r}, daemons' PIDs {cluster['pids']}); "
              "try `sinfo` or `srun hostname` in another shell. Ctrl-C stops it.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
