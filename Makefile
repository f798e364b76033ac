# rig: two commands from a fresh clone: `make demo` and `make test`.
# Each creates or updates .venv by itself (python3 and python3-venv are all it needs).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The installed service's venv is made from the system's Python, so that it
# sees apt's python3-lgpio (docs/install.md).
SYSTEM_PYTHON ?= /usr/bin/python3

.PHONY: demo test bench soak golden screens clean install uninstall unit-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever the project's dependencies or their pins change.  The
# pins (constraints.txt, tools/pins.py) are the versions a Pi installs, so the
# tests run against what the rig will run.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,desktop]'
	touch $@

demo: $(STAMP)
	$(BIN)/rig demo --out build/demo

# One pytest worker per core (pytest-xdist), each test file on one worker: the files
# that share a calibrated lens (tests/conftest.py) calibrate it once.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# Plans against focus_sq, calibration over simulator seeds against the
# previous calibrate, autofocus against the seed's full sweep, then play
# timing with the web page streaming, thumb -> lens latency, rig probe's
# round trip over 20 zoo lenses, and 120 takes in a moving scene on every
# profile, the rig as shipped against counting alone (about 24 minutes on
# 2 cores), 35,000 Qs through the near stop against the position model's
# 3 sigma (bench/rehome.py, a few minutes), then rig calibrate on 100 zoo lenses judged against the
# simulator's truth, beside main 0095f88's calibration (bench/lens_zoo.py:
# 50 minutes on a loaded machine while calibrations refuse early, more once
# they run to the end).
bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/calibration_seeds.py
	$(BIN)/python bench/af.py
	$(BIN)/python bench/web_timing.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/probe_zoo.py
	$(BIN)/python bench/takes.py
	$(BIN)/python bench/rehome.py
	$(BIN)/python bench/lens_zoo.py

# Redraw the OLED reference pictures after a meant change to the screens
# (then look at tests/golden/*.png and commit them).
golden: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_screens.py --update-golden

# The gallery shown in the README.
screens: $(STAMP)
	$(BIN)/rig screens --out docs/img/screens

# sudo make install / uninstall: rig as the service this Pi boots into.
# DESTDIR=/some/dir stages everything there instead (tests do this);
# RIG_INSTALL_SKIP_VENV=1 leaves out the venv.  See docs/install.md.
install:
	$(SYSTEM_PYTHON) install/install.py install --destdir "$(DESTDIR)"

uninstall:
	$(SYSTEM_PYTHON) install/install.py uninstall --destdir "$(DESTDIR)"

# systemd-analyze verify and the security table of systemd/rig.service.
unit-check:
	$(PYTHON) bench/unit_security.py

# The pictures in the docs that are drawn from the code: the OLED during a
# boot (docs/img/boot.png), the wiring diagram (hardware/img/wiring.png) and
# the web page on a phone (docs/img/web.png, needs Debian's chromium).
.PHONY: images
images: $(STAMP)
	$(BIN)/python tools/boot_strip.py
	$(BIN)/python tools/wiring_diagram.py
	RIG_WEB_SCREENSHOT=docs/img/web.png $(BIN)/python -m pytest -q tests/test_web_browser.py

clean:
	rm -rf build $(VENV) *.egg-info

# A long day with faults injected, in virtual time (about 12 minutes of wall time).
soak: $(STAMP)
	$(BIN)/python bench/soak.py
