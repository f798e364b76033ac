"""A writer killed at any instant leaves the state loadable, old or new (issue 8).

A child process saves sequence after sequence; after each save returns it
reports the generation on a pipe.  The parent kills it with SIGKILL after a
random moment, 1,000 times, and loads the state each time: it must load
without a problem, whole, as the last generation the child reported or the
one it was writing, and its backup must load too.  (SIGKILL tests the write
protocol: temp file, fsync, rename, fsync of the directory; a power cut also
loses the page cache, which the fsyncs are for and which no test here can
cut.)
"""

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import os, random, signal, sys, time
    from rig.sequencer import Point
    from rig.store import Store, _read_sequence, backup_path

    root, iterations = sys.argv[1], int(sys.argv[2])
    rng = random.Random(7)

    def points(n):
        # Generation n: n % 7 + 1 points, every one carrying n (as tenths of a
        # second: unique up to n = 36,000, the longest duration a file may hold).
        assert n <= 36000
        return tuple(Point(k, duration=n / 10.0) for k in range(n % 7 + 1))

    def generation(seq):
        n = round(seq[0].duration * 10)
        assert len(seq) == n % 7 + 1, seq
        assert all(round(p.duration * 10) == n for p in seq), seq
        return n

    Store(root).save_sequence(points(0), "L")
    Store(root).save_sequence(points(1), "L")
    # Kill within the first three saves, at any point inside them.
    start = time.perf_counter()
    for _ in range(20):
        Store(root).save_sequence(points(1), "L")
    save_s = (time.perf_counter() - start) / 20
    committed, wrote, old, new = 1, 1, 0, 0
    for it in range(iterations):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            store, n = Store(root), committed
            while True:
                n += 1
                store.save_sequence(points(n), "L")
                os.write(w, n.to_bytes(4, "big"))
        os.close(w)
        time.sleep(rng.uniform(0.0, 3 * save_s))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        data = b""
        while chunk := os.read(r, 4096):
            data += chunk
        os.close(r)
        if len(data) >= 4:
            committed = int.from_bytes(data[len(data) // 4 * 4 - 4:len(data) // 4 * 4], "big")
            wrote += len(data) // 4
        store = Store(root)
        seq = store.load_sequence()
        assert not store.problems, store.problems
        n = generation(seq)
        assert n in (committed, committed + 1), (n, committed)
        old += n == committed
        new += n == committed + 1
        committed = n
        backup = Store(root)
        assert generation(backup._load(backup_path(backup.sequence_path), _read_sequence)) <= n
    # What the last killed writer left behind goes with the next save.
    Store(root).save_sequence(points(committed + 1), "L")
    litter = [f for f in os.listdir(root) if f.endswith(".tmp")]
    print(f"{iterations} kills, {wrote} saves: loaded the old version {old} times, "
          f"the new one {new} times; temp files left: {len(litter)}")
""")


def test_a_writer_killed_at_any_moment_leaves_old_or_new(tmp_path):
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), "1000"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    line = done.stdout.strip().splitlines()[-1]
    old = int(line.split("old version ")[1].split(" ")[0])
    new = int(line.split("new one ")[1].split(" ")[0])
    assert old + new == 1000                    # every one of the 1,000 loads was whole
    assert old > 0 and new > 0                  # the kills landed both before and after renames
    assert line.endswith("temp files left: 0")
