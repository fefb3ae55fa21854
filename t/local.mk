# Daemon-level tests: TAP scripts run against the real crispd, a real
# registry and real containers (root needed).
TESTS += \
	t/40daemon/00-infra.t
EXTRA_DIST += t/lib/cri.py t/lib/daemon.py t/lib/images.py t/lib/registry.py t/lib/tap.py
