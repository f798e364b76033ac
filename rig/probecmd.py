"""``rig probe``: the command line around :func:`rig.probe.probe`.

Progress on stderr as ``rig calibrate`` shows it; Ctrl-C stops the probe,
writes nothing and leaves the lens where it stopped; a mistake in the
arguments or a camera that cannot be probed is one line.  The profile is
written only once it has been read back as a valid simulator profile.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .inputs import InputError
from .lens import LensError

__all__ = ["run", "add_arguments"]


def _metres(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a distance in metres, got {text!r}") from None
    if not 0.01 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"must be 0.01 to 1000 metres, got {text}")
    return value


def _positive(low: float, high: float, unit: str):
    def check(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"a number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low:g} to {high:g}{unit}, got {text}")
        return value
    return check


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--camera", help="usb (default) or sim:PROFILE.toml")
    p.add_argument("--out", required=True, metavar="PROFILE.toml",
                   help="the simulator profile to write")
    p.add_argument("--report", metavar="REPORT.json",
                   help="every figure with how it was measured, and two plots beside it")
    p.add_argument("--subject-distance", type=_metres, metavar="METRES",
                   help="how far the detailed still object in front of the camera is (a tape "
                        "measure from the sensor mark): gives the lens's distances")
    p.add_argument("--min-focus", type=_metres, metavar="METRES",
                   help="the lens's closest focusing distance (its spec sheet), if no "
                        "--subject-distance")
    p.add_argument("--focal", type=_positive(1, 2000, " mm"), metavar="MM",
                   help="the focal length, for a lens whose name does not give one (a zoom)")
    p.add_argument("--f-number", type=_positive(0.7, 64, ""), metavar="N",
                   help="the f-number, for a lens whose name does not give one")
    p.add_argument("--force", action="store_true", help="replace PROFILE.toml / REPORT.json")
    p.add_argument("--config", help="config file (default: /etc/rig/rig.toml if present)")


def _target(flag: str, value: str | None, force: bool) -> Path | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.exists() and not force:
        raise InputError(flag, f"{path} exists: give another name, or --force to replace it")
    if not path.parent.is_dir():
        raise InputError(flag, f"no such directory: {path.parent}")
    return path


def run(args: argparse.Namespace) -> int:
    import gphoto2 as gp

    from . import __version__
    from .cli import _calibration_settings, _camera_opener, camera_spec
    from .clock import MonotonicClock, VirtualClock
    from .config import find_config, load_config
    from .lens import Lens
    from .probe import error_text, probe
    from .probefit import Stated
    from .probeprofile import profile_text
    from .probereport import summary_lines, write_report
    from .progress import ProgressLine
    from .simprofile import parse_profile
    from .store import atomic_write_bytes
    out = _target("--out", args.out, args.force)
    assert out is not None
    report = _target("--report", args.report, args.force)
    config = load_config(find_config(args.config))
    spec = camera_spec(args.camera or config["camera"]["port"])
    clock = VirtualClock() if spec.startswith("sim:") else MonotonicClock()
    lens = Lens(_camera_opener(spec, clock)(), clock)
    stated = Stated(args.subject_distance, args.min_focus, args.focal, args.f_number)
    line = ProgressLine(sys.stderr, label="probing")
    try:
        result = probe(lens, stated=stated, progress=line.update,
                       calibration_settings=_calibration_settings(config))
    except KeyboardInterrupt:
        line.stop()
        print("rig: probe stopped (Ctrl-C): nothing was written; the lens stays where it "
              "stopped", file=sys.stderr)
        return 130
    except gp.GPhoto2Error as exc:
        line.stop()
        raise LensError(f"the camera stopped answering: {error_text(exc)}; nothing was "
                        "written") from None
    finally:
        lens.close()
    line.done()
    f = result.findings
    header = [f"A simulator profile written by rig probe (rig {__version__}) on "
              f"{time.strftime('%Y-%m-%d %H:%M')} from the camera on {spec}.",
              "Each key says where its number comes from.  Replay it with",
              f"  rig simulate --camera sim:{out.name} --script SCRIPT --report OUT.json"]
    text = profile_text(f, header)
    parse_profile(text, str(out))            # a bug if not: never write a file that won't load
    atomic_write_bytes(out, text.encode())
    for row in summary_lines(f):
        print(row)
    missing = sorted(k for k, e in f.items() if not hasattr(e, "value"))
    print(f"profile: {out}" + (f"; not measured: {', '.join(missing)} (the comments in it and "
                               "the report say why)" if missing else ""))
    if report is not None:
        write_report(report, f, sweep=result.sweep, calibration=result.calibration,
                     error=result.calibration_error, profile=str(out),
                     camera_s=result.camera_s)
        print(f"report: {report} (and {report.stem}-focus.png, {report.stem}-steps.png)")
    return 0
