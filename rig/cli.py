"""The ``rig`` command.

=================  =========================================================
``rig run``        the rig itself (hardware, or ``--camera sim:...`` in real time)
``rig simulate``   the app on the simulator, driven by a session script
``rig demo``       ``simulate`` with the default profile and demo script
``rig calibrate``  measure the connected lens and store its calibration
``rig probe``      measure the camera and lens into a simulator profile and a report
``rig plan``       plan one transition from a calibration file
``rig screens``    every OLED screen as a PNG (the gallery)
``rig lenses``     list, export and import lens profiles (calibrations)
``rig config``     ``check``: validate the config file
``rig doctor``     check the camera, lens, OLED, pins and service; say what to fix
=================  =========================================================

Mistakes in files or arguments print one line naming the file, line or key,
and exit with status 2.  A lens or camera failure exits with status 1.
"""

from __future__ import annotations


import argparse
import dataclasses
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from .inputs import InputError

log = logging.getLogger("rig")

DATA = Path(__file__).parent / "data"
DEMO_SCRIPT = DATA / "demo.rig"


def sim_profile(name: str) -> Path:
    """A simulator profile: a file, or one shipped with rig by its name
    (``canon-ef24.toml``, or ``canon-ef24``; ``rig/data/profiles``)."""
    from .sim import PROFILES
    path = Path(name).expanduser()
    if path.is_file():
        return path
    if name and path.name == name:          # a bare name: the shipped profiles
        for candidate in (PROFILES / name, PROFILES / f"{name}.toml"):
            if candidate.is_file():
                return candidate
    shipped = ", ".join(sorted(p.name for p in PROFILES.glob("*.toml")))
    raise InputError(name or "sim:", f"no such file, and no profile of that name ships with "
                                     f"rig ({shipped})")


def camera_spec(spec: str) -> str:
    """``spec`` with a simulator profile's name made its path ("sim:canon-ef24.toml")."""
    if spec.startswith("sim:"):
        return f"sim:{sim_profile(spec[4:])}"
    return spec


def _camera_opener(spec: str, clock: Any) -> Any:
    """A function that opens the camera named by ``spec`` ("usb" or "sim:FILE")."""
    if spec.startswith("sim:"):
        from .sim import SimBody, load_profile
        return SimBody(load_profile(sim_profile(spec[4:])), clock).session
    if spec in ("usb", "auto"):
        import gphoto2 as gp
        return gp.Camera
    raise InputError("--camera", f"expected 'usb' or 'sim:PROFILE.toml', got {spec!r}")


def _calibration_settings(config: Any) -> Any:
    from .calibrate import CalibrationSettings
    return CalibrationSettings(**config["calibration"])


# ------------------------------------------------------------- commands


def cmd_plan(args: argparse.Namespace) -> int:
    from .calibration import load_calibration
    from .planner import plan_move
    cal = load_calibration(args.lens)
    for name in ("from_", "to"):
        value = getattr(args, name)
        if not 0 <= value <= cal.steps:
            flag = "--" + name.rstrip("_")
            raise InputError(flag, f"must be a position 0..{cal.steps} for this lens, "
                                   f"got {value}")
    if args.duration < 0:
        raise InputError("--duration", f"must be >= 0 seconds, got {args.duration:g}")
    model = cal.model()
    # --reversed: the last move went the other way, so the play is not taken up yet.
    plan = plan_move(args.from_, args.to, args.duration, model,
                     slack=model.backlash if args.reversed else 0.0)
    if args.json:
        print(json.dumps(plan.to_json()))
    else:
        counts = ", ".join(f"{n} x size {k}" for k, n in plan.counts.items() if n) or "none"
        print(f"{plan.start} -> {plan.target}: {plan.duration_s:.3f} s "
              f"(asked {plan.target_s:.3f} s, fastest {plan.fastest_s:.3f} s); {counts}")
        for line in _plan_notes(plan, model.backlash, args.reversed):
            print(f"  {line}")
    return 0


def _plan_notes(plan: Any, backlash: float, reversed_: bool) -> list[str]:
    """What the plan does about the play and how exactly it lands, in words."""
    from .planner import EXACT
    notes = []
    if plan.takeup:
        notes.append(f"takes up {plan.slack:g} steps of play first: {plan.takeup} x size 1 in "
                     f"{plan.takeup_s:.3f} s, then the pull")
    elif plan.slack > 0:
        notes.append(f"its first command takes up the last {plan.slack:.2f} step of play")
    elif backlash > 0 and plan.distance and not reversed_:
        notes.append(f"assumes the play ({backlash:g} steps) taken up toward {plan.target} "
                     "already (rig does it while the lens waits; --reversed if not)")
    if abs(plan.landing) > EXACT:
        side = "short of" if plan.landing > 0 else "past"
        notes.append(f"lands {abs(plan.landing):.2f} step {side} {plan.target} on average: "
                     "no mix of these steps that meets the time lands nearer")
    return notes


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .clock import MonotonicClock, VirtualClock
    from .config import load_config
    import gphoto2 as gp
    from .calibrate import CalibrationError, calibrate
    from .lens import Lens
    from .progress import ProgressLine
    from .store import Store
    config = load_config(args.config)
    spec = camera_spec(args.camera or config["camera"]["port"])
    config = _simulated_config(config, spec)
    clock = VirtualClock() if spec.startswith("sim:") else MonotonicClock()
    camera = _camera_opener(spec, clock)()
    lens = Lens(camera, clock)
    try:
        lens.connect()
    except gp.GPhoto2Error as exc:
        print(f"rig: calibration refused (cause: camera): the camera did not answer "
              f"({exc.code}: {getattr(exc, 'string', '') or 'gphoto2 error'}); nothing was "
              "saved", file=sys.stderr)
        return 1
    line = ProgressLine(sys.stderr, quiet=args.json)
    try:
        settings = _calibration_settings(config)
        if getattr(args, "method", None):
            settings = dataclasses.replace(settings, method=args.method)
        cal = calibrate(lens, settings, line.update)
    except KeyboardInterrupt:
        line.stop()
        print("rig: calibration stopped (Ctrl-C): nothing was saved, the saved lens profiles "
              "are as they were; the lens stays where it stopped", file=sys.stderr)
        return 130
    except CalibrationError as exc:
        line.stop()
        print(f"rig: calibration refused (cause: {exc.cause}): {exc}", file=sys.stderr)
        return 1
    finally:
        try:
            lens.close()
        except KeyboardInterrupt:
            pass
    line.done()
    store = Store(args.state_dir or config.state_dir())
    path = store.save_calibration(cal, stamp=True)
    if args.plot:
        from .plot import calibration_figure
        calibration_figure(cal).save(args.plot)
    if args.json:
        print(json.dumps(cal.to_json()))
    else:
        print(f"{cal.lens} on {cal.camera}: {cal.steps} steps")
        for d in cal.drive:
            print(f"  size {d.size}: {d.steps:g} steps, {d.speed:.2f} steps/s")
        print(f"saved to {path}")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from .probecmd import run
    return run(args)


def _summary(report: Any, *, check: bool) -> bool:
    from .harness import af_on_mark, on_mark
    lens = report.lens
    print(f"lens: {lens.get('lens', '?')}: {lens.get('steps', '?')} steps; "
          + ", ".join(f"size {d['size']} = {d['steps']:g} steps at {d['speed']:.1f}/s"
                      for d in lens.get("drive", [])))
    print(f"{'kind':5} {'from':>4} {'to':>3} {'target':>6} {'true':>5} {'±3σ':>5} "
          f"{'planned':>8} {'actual':>8} {'dev%':>6} {'track':>6}")
    ok = True
    for tr in report.transitions:
        dev = 0.0 if tr["planned_s"] == 0 else 100 * (tr["actual_s"] - tr["planned_s"]) \
            / tr["planned_s"]
        landed = on_mark(tr)
        good = landed and (tr["kind"] != "play" or abs(dev) <= 2)
        ok &= good
        bound = tr.get("bound_steps")
        print(f"{tr['kind']:5} {tr['from']:>4} {tr['to']:>3} {tr['target_step']:>6} "
              f"{tr['true_step']:>5} {'?' if bound is None else f'{bound:.1f}':>5} "
              f"{tr['planned_s']:>8.3f} {tr['actual_s']:>8.3f} "
              f"{dev:>+6.2f} {tr['max_tracking_error_steps']:>6.1f}"
              f"{'' if good else '  <-- off' if not landed else '  <-- late'}")
    for af in report.autofocus:
        # The count after AF is what a stored point keeps: held to the truth
        # as a landing is to its target.
        counted = af_on_mark(af)
        ok &= counted
        bound = af.get("bound_steps")
        print(f"autofocus: subject {af['subject']:g}, lens at {af['result_step']} "
              f"(true {af['true_step']}, ±3σ {'?' if bound is None else f'{bound:.1f}'}), "
              f"{af['frames']} frames"
              + ("" if af.get("ok", True) else f": failed, {af.get('reason')}")
              + ("" if counted else "  <-- off"))
    for err in report.errors:
        print(f"error: {err}")
    ok &= not report.errors
    plays = sum(1 for tr in report.transitions if tr["kind"] == "play")
    if check:
        print(f"{'OK' if ok else 'FAILED'}: {plays} play transitions, "
              f"{len(report.transitions) - plays} fastest moves, "
              f"{report.virtual_s:.0f} s of virtual time")
    return ok


def _run_simulation(profile_path: str, script_path: Path, *, report_path: Path,
                    gif: Path | None, state_dir: Path | None, config_path: str | None,
                    check: bool) -> int:
    from .config import load_config
    from .harness import simulate
    from .script import load_script
    from .sim import load_profile
    profile = load_profile(sim_profile(profile_path))
    actions = load_script(script_path)
    config = load_config(config_path)
    temp = None
    if state_dir is None:
        temp = tempfile.mkdtemp(prefix="rig-sim-")
        state_dir = Path(temp)
    try:
        report = simulate(profile, actions, state_dir=state_dir, config=config, gif=gif,
                          report_path=report_path)
    finally:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
    ok = _summary(report, check=check)
    print(f"report: {report_path}" + (f"; OLED: {gif} ({report.frames} frames)" if gif else ""))
    return 0 if ok or not check else 1


def cmd_simulate(args: argparse.Namespace) -> int:
    if not args.camera.startswith("sim:"):
        raise InputError("--camera", f"simulate needs sim:PROFILE.toml, got {args.camera!r}")
    return _run_simulation(args.camera[4:], Path(args.script), report_path=Path(args.report),
                           gif=Path(args.gif) if args.gif else None,
                           state_dir=Path(args.state_dir) if args.state_dir else None,
                           config_path=args.config, check=False)


def cmd_demo(args: argparse.Namespace) -> int:
    from .sim import DEFAULT_PROFILE
    if args.camera and not args.camera.startswith("sim:"):
        raise InputError("--camera", f"demo runs on the simulator: sim:PROFILE.toml, "
                                     f"got {args.camera!r}")
    out = Path(args.out)
    state = out / "state"
    shutil.rmtree(state, ignore_errors=True)  # a new lens each time: calibration is shown
    out.mkdir(parents=True, exist_ok=True)
    profile = args.camera[4:] if args.camera else str(DEFAULT_PROFILE)
    print(f"rig demo: {Path(sim_profile(profile)).name} with {DEMO_SCRIPT.name} (virtual time)")
    return _run_simulation(profile, DEMO_SCRIPT, report_path=out / "report.json",
                           gif=out / "oled.gif", state_dir=state, config_path=args.config,
                           check=True)


def _simulated_config(config: Any, spec: str) -> Any:
    """For a simulated camera: the config with its own state directory, so that its
    made-up lenses and sequences never land among the real rig's."""
    if not spec.startswith("sim:"):
        return config
    return config.with_state_dir(config.state_dir(simulated=True))


def cmd_run(args: argparse.Namespace) -> int:
    from .clock import MonotonicClock
    from .config import load_config
    from .display import attach
    from .notify import Notifier
    from .service import Service
    config = load_config(args.config)
    clock = MonotonicClock()
    spec = camera_spec(args.camera or config["camera"]["port"])
    display = {**config["display"], **({"driver": args.display} if args.display else {})}
    window = reopen = None
    if spec.startswith("sim:"):
        # A new simulated lens is calibrated in virtual time (seconds, not the
        # quarter of an hour it takes in real time), in the simulator's own state.
        from .desktop import known_lens
        from .store import Store
        config = _simulated_config(config, spec)
        log.info("simulator: state in %s (not the rig's own)", config.state_dir())
        known_lens(Store(config.state_dir()), spec, _calibration_settings(config))
        web = config["web"]
        if web["enabled"] and web["port"]:
            from .web import token_for
            host = "127.0.0.1" if web["host"] in ("0.0.0.0", "::", "") else web["host"]
            log.info("simulator: the web page is http://%s:%d/?token=%s", host, web["port"],
                     token_for(config.state_dir()))
    if display["driver"] == "pygame":      # the desktop preview (rig.desktop)
        from .desktop import open_window
        device = window = open_window(config)
    else:
        device, reopen = attach(display)   # an OLED that does not answer: headless
    service = Service(clock, config, _camera_opener(spec, clock),
                      display_device=device, display_reopen=reopen, notifier=Notifier())
    stop = clock.flag()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        return service.run(stop)
    finally:
        if window is not None:
            window.close()


def cmd_screens(args: argparse.Namespace) -> int:
    from .screens import samples, write_gallery
    if args.scale < 1 or args.scale > 16:
        raise InputError("--scale", f"must be 1..16, got {args.scale}")
    written = write_gallery(Path(args.out), scale=args.scale)
    print(f"{len(samples())} screens: {len(written)} files in {args.out} "
          f"(gallery.png shows them all)")
    return 0


def _width() -> int:
    """Lines for a phone's ssh terminal as much as a desktop's."""
    return min(shutil.get_terminal_size((80, 24)).columns, 100)


def _wrap(text: str, indent: int = 2) -> str:
    import textwrap
    return textwrap.fill(text, _width(), subsequent_indent=" " * indent,
                         break_on_hyphens=False, break_long_words=False)


def _tool_config(args: argparse.Namespace) -> Any:
    """The config a hand-run tool uses: --config, else the installed rig's."""
    from .config import find_config, load_config
    return load_config(find_config(getattr(args, "config", None)))


def _tool_store(args: argparse.Namespace) -> Any:
    from .store import Store
    state = getattr(args, "state_dir", None)
    return Store(state if state else _tool_config(args).state_dir())


def cmd_lenses(args: argparse.Namespace) -> int:
    from .distance import min_focus
    from .lenses import describe, list_profiles
    store = _tool_store(args)
    entries = list_profiles(store)
    good = [e for e in entries if e.cal is not None]
    if getattr(args, "json", False):
        print(json.dumps({"dir": str(store.lenses_dir), "profiles": [
            {"file": str(e.path), "camera": e.cal.camera, "lens": e.cal.lens,
             "steps": e.cal.steps, "min_focus_m": min_focus(e.cal),
             "calibration": e.cal.to_json()} for e in good if e.cal is not None],
            "damaged": [{"file": str(e.path), "error": e.error} for e in entries if e.error]},
            indent=1))
        return 1 if len(good) < len(entries) else 0
    print(_wrap(f"{len(good)} lens profile{'s' if len(good) != 1 else ''} in "
                f"{store.lenses_dir}"))
    camera = None
    for entry in good:
        assert entry.cal is not None
        if entry.cal.camera != camera:
            camera = entry.cal.camera
            print(_wrap(camera or "(camera not recorded)"))
        print(_wrap(f"  {entry.cal.lens}", 4))
        print(_wrap(f"    {describe(entry.cal)}", 6))
    for entry in entries:
        if entry.error:
            print(_wrap(f"damaged: {entry.error}", 4), file=sys.stderr)
    return 1 if len(good) < len(entries) else 0


def cmd_lenses_set(args: argparse.Namespace) -> int:
    from .distance import describe_min_focus
    from .lenses import select, set_min_focus
    entry = select(_tool_store(args), args.lens)
    cal = set_min_focus(_tool_store(args), entry, args.min_focus)
    print(_wrap(f"{entry.label}: {describe_min_focus(cal)}"))
    print(_wrap("a running rig uses it after sudo systemctl restart rig"))
    return 0


def cmd_lenses_export(args: argparse.Namespace) -> int:
    from .lenses import export_profile, select
    entry = select(_tool_store(args), args.lens)
    assert entry.cal is not None
    if args.file == "-":
        print(json.dumps(entry.cal.to_json(), indent=2))
        return 0
    export_profile(entry, Path(args.file), force=args.force)
    print(_wrap(f"exported {entry.label} to {args.file}"))
    return 0


def cmd_lenses_import(args: argparse.Namespace) -> int:
    from .lenses import describe, import_profile
    done = import_profile(_tool_store(args), Path(args.file), force=args.force)
    what = {"added": "added", "replaced": "replaced", "unchanged": "already there, unchanged:"}
    print(_wrap(f"{what[done.status]} {done.cal.camera} / {done.cal.lens}: "
                f"{describe(done.cal)}"))
    if done.status != "unchanged":
        print(_wrap(f"saved to {done.path}; a running rig uses it after "
                    "sudo systemctl restart rig"))
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    from .config import SYSTEM_CONFIG, changes, find_config, load_config, summary, toml_value
    path = find_config(args.file)
    config = load_config(path)
    changed = changes(config) if path is not None else {}
    if args.json:
        print(json.dumps({"file": None if path is None else str(path), "valid": True,
                          "changed": changed, "config": config.values}, indent=1))
        return 0
    if path is None:
        print(_wrap(f"no {SYSTEM_CONFIG}: the packaged defaults apply, and they are valid"))
    else:
        # Each "key = value" stays on one line (a no-break space until wrapped).
        print(_wrap(f"{path}: valid; {len(changed)} setting{'s' if len(changed) != 1 else ''} "
                    "changed from the defaults" + (": " + ", ".join(
                        f"{k}\u00a0=\u00a0{toml_value(v, k)}" for k, v in changed.items())
                        if changed else "")).replace("\u00a0", " "))
    for line in summary(config):
        print(_wrap(line, 9))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from .clock import MonotonicClock, VirtualClock
    from .config import find_config, load_config
    from .doctor import FAIL, Doctor, format_verdict, run, summary, to_json
    from .store import Store
    path = find_config(args.config)
    try:
        config, problem = load_config(path), None
    except InputError as exc:
        config, problem = load_config(), str(exc)
    spec = camera_spec(args.camera or config["camera"]["port"])
    clock = VirtualClock() if spec.startswith("sim:") else MonotonicClock()
    opener = _camera_opener(spec, clock)
    store = Store(args.state_dir or config.state_dir(simulated=spec.startswith("sim:")))
    doctor = Doctor(config, opener, clock, store, camera_spec=spec, config_error=problem)
    width = _width()
    if not args.json:
        print(_wrap(f"rig doctor: camera {spec}, state in {store.root}"), flush=True)

    def show(verdict: Any) -> None:
        if not args.json:
            print(format_verdict(verdict, width), flush=True)

    verdicts = run(doctor, show)
    if doctor.web_link is not None and not args.json:
        from .address import qr_link, terminal_qr
        link = qr_link(*doctor.web_link)
        print()
        print(_wrap(f"the web page on a phone: scan this, or open {link}", 0))
        print(terminal_qr(link))
    print(to_json(verdicts) if args.json else summary(verdicts))
    return 1 if any(v.status == FAIL for v in verdicts) else 0


# ------------------------------------------------------------------ main


def _display_arg(text: str) -> str:
    from .config import _driver
    problem = _driver(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def _min_focus_arg(text: str) -> float | None:
    if text.strip().lower() == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a distance in metres (e.g. 0.25) or 'auto', "
                                         f"got {text!r}") from None
    from .distance import MIN_FOCUS_RANGE
    low, high = MIN_FOCUS_RANGE
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be {low:g} to {high:g} metres, got {text}")
    return value


def version_line() -> str:
    """``rig --version``: rig's version, and the libraries a bug report needs."""
    from importlib.metadata import PackageNotFoundError, version
    from . import __version__
    parts = []
    for name in ("gphoto2", "gpiozero", "luma.oled", "pillow", "aiohttp"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} missing")
    try:
        import gphoto2 as gp
        parts.insert(1, f"libgphoto2 {gp.gp_library_version(gp.GP_VERSION_SHORT)[0]}")
    except Exception:      # a broken gphoto2 must not hide the version
        pass
    return f"rig {__version__} ({', '.join(parts)}; Python {sys.version.split()[0]})"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rig", description="A focus puller for one-person crews.")
    p.add_argument("--version", action="version", version=version_line())
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="log more (-vv: libgphoto2's debug messages too)")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the rig")
    run.add_argument("--config", help="config file laid over the defaults")
    run.add_argument("--camera", help="usb (default) or sim:PROFILE.toml")
    run.add_argument("--display", type=_display_arg, metavar="DRIVER",
                     help="the OLED by luma.oled's name: ssd1306, sh1106, ssd1309... "
                          "(default: [display] driver); pygame: a window on a desktop, the "
                          "keyboard as the buttons (docs/operating.md); none: no screen")
    run.set_defaults(func=cmd_run)

    sim = sub.add_parser("simulate", help="run a session script on the simulator")
    sim.add_argument("--camera", required=True, help="sim:PROFILE.toml")
    sim.add_argument("--script", required=True)
    sim.add_argument("--report", required=True)
    sim.add_argument("--gif", help="write the OLED frames as an animated GIF")
    sim.add_argument("--state-dir", help="calibration and sequence (kept between runs)")
    sim.add_argument("--config")
    sim.set_defaults(func=cmd_simulate)

    demo = sub.add_parser("demo", help="calibrate, record and play a sequence on the simulator")
    demo.add_argument("--out", default="build/demo", help="where report.json and oled.gif go")
    demo.add_argument("--camera", help="another sim:PROFILE.toml")
    demo.add_argument("--config")
    demo.set_defaults(func=cmd_demo)

    cal = sub.add_parser("calibrate", help="measure the lens and store the calibration")
    cal.add_argument("--camera", help="usb (default) or sim:PROFILE.toml")
    cal.add_argument("--json", action="store_true", help="print the calibration as JSON")
    cal.add_argument("--plot", metavar="PNG", help="draw what the calibration found")
    cal.add_argument("--method", choices=("liveview", "stops"),
                     help="live-view bodies: the sweep (liveview) or counting against the "
                          "stops (stops); default: [calibration] method")
    cal.add_argument("--state-dir")
    cal.add_argument("--config")
    cal.set_defaults(func=cmd_calibrate)

    probe = sub.add_parser("probe", help="measure the camera and lens into a simulator profile",
                           description="Measure the camera and lens that are plugged in and "
                                       "write a simulator profile that behaves like them "
                                       "(docs/hardware-test.md).")
    from .probecmd import add_arguments
    add_arguments(probe)
    probe.set_defaults(func=cmd_probe)

    plan = sub.add_parser("plan", help="plan one transition")
    plan.add_argument("--lens", required=True, help="a calibration JSON file")
    plan.add_argument("--from", dest="from_", type=int, required=True, metavar="A")
    plan.add_argument("--to", type=int, required=True, metavar="B")
    plan.add_argument("--duration", type=float, default=0.0, metavar="T",
                      help="target seconds (0: as fast as possible)")
    plan.add_argument("--reversed", action="store_true",
                      help="the lens last moved the other way: take up its play first")
    plan.add_argument("--json", action="store_true")
    plan.set_defaults(func=cmd_plan)

    screens = sub.add_parser("screens", help="draw every OLED screen to PNG (the gallery)")
    screens.add_argument("--out", required=True, help="directory for the pictures")
    screens.add_argument("--scale", type=int, default=4, help="pixels per OLED pixel (4)")
    screens.set_defaults(func=cmd_screens)

    # Options every lenses subcommand takes, before or after its name.
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--state-dir", default=argparse.SUPPRESS,
                       help="where the profiles are (default: the config's state.dir)")
    where.add_argument("--config", default=argparse.SUPPRESS,
                       help="config file (default: /etc/rig/rig.toml if present)")
    listing = argparse.ArgumentParser(add_help=False)
    listing.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                         help="print the profiles as JSON")
    lenses = sub.add_parser("lenses", parents=[where, listing],
                            help="list, export, import and set lens profiles (calibrations)",
                            description="Lens profiles: one calibration per camera and lens.")
    lenses.set_defaults(func=cmd_lenses)
    lsub = lenses.add_subparsers(dest="action", metavar="{list,export,import,set}")
    lsub.add_parser("list", parents=[where, listing], help="list the profiles (the default)") \
        .set_defaults(func=cmd_lenses)
    export = lsub.add_parser("export", parents=[where], help="write one profile to a file")
    export.add_argument("lens", metavar="LENS",
                        help="any part of the camera and lens names, e.g. 'ef24' or '5d 24mm'")
    export.add_argument("file", metavar="FILE", help="where to write it ('-': print it)")
    export.add_argument("--force", action="store_true", help="replace FILE if it exists")
    export.set_defaults(func=cmd_lenses_export)
    imp = lsub.add_parser("import", parents=[where], help="add a profile from a file")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--force", action="store_true",
                     help="replace this lens's profile if it has other numbers")
    imp.set_defaults(func=cmd_lenses_import)
    put = lsub.add_parser("set", parents=[where],
                          help="set what the camera cannot tell about a lens")
    put.add_argument("lens", metavar="LENS", help="any part of the camera and lens names")
    put.add_argument("--min-focus", required=True, metavar="METRES", type=_min_focus_arg,
                     help="the lens's closest focusing distance in metres (its spec sheet), "
                          "for the estimated distance on the OLED and the web page; "
                          "'auto': rig's table of lenses")
    put.set_defaults(func=cmd_lenses_set)

    cfg = sub.add_parser("config", help="check the config file")
    csub = cfg.add_subparsers(dest="action", required=True, metavar="{check}")
    check = csub.add_parser("check", help="validate a config file laid over the defaults")
    check.add_argument("file", nargs="?", metavar="FILE",
                       help="default: /etc/rig/rig.toml (the packaged defaults if absent)")
    check.add_argument("--json", action="store_true",
                       help="print the whole config, and what it changes, as JSON")
    check.set_defaults(func=cmd_config_check)

    doc = sub.add_parser("doctor", help="check everything the rig needs and say what to fix")
    doc.add_argument("--camera", help="usb (default) or sim:PROFILE.toml")
    doc.add_argument("--config", help="config file (default: /etc/rig/rig.toml if present)")
    doc.add_argument("--state-dir")
    doc.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    doc.set_defaults(func=cmd_doctor)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from .lens import LensError
    from .logs import start_logging
    level = logging.DEBUG if args.verbose else (
        logging.INFO if args.command == "run" else logging.WARNING)
    # The last line (the error, if any) comes after everything logged before it.
    with start_logging(level, verbosity=args.verbose):
        try:
            return args.func(args)
        except InputError as exc:
            error, code = f"rig: error: {exc}", 2
        except LensError as exc:
            error, code = f"rig: lens: {exc}", 1
        except KeyboardInterrupt:
            error, code = "rig: stopped (Ctrl-C)", 130
        except BrokenPipeError:
            # `rig ... | head`: the reader has gone; nothing more to say, no traceback
            # (and none when Python flushes stdout at exit).
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141
    print(error, file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
