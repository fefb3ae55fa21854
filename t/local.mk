# Daemon-level tests: TAP scripts run against the real crispd, a real
# registry and real containers (root needed).
TESTS += \
	t/20platform/pause.t \
	t/20platform/cgroup2-vm.t \
	t/40daemon/00-infra.t \
	t/40daemon/10-runtime.t \
	t/40daemon/20-images.t \
	t/40daemon/21-registry-auth.t \
	t/40daemon/22-registry-tls.t \
	t/40daemon/23-registry-paths.t \
	t/40daemon/23-registry-retries.t \
	t/40daemon/24-image-fs.t \
	t/40daemon/25-hostile-layers.t \
	t/40daemon/26-pull-sharing.t \
	t/40daemon/27-pull-crash.t \
	t/40daemon/28-registry-system-ca.t \
	t/40daemon/29-curl-unload.t \
	t/40daemon/30-pods.t \
	t/40daemon/40-containers.t \
	t/40daemon/45-rootfs.t \
	t/40daemon/46-keeper.t \
	t/40daemon/47-logs.t \
	t/40daemon/48-lifecycle.t \
	t/40daemon/49-restart.t \
	t/40daemon/50-security.t \
	t/40daemon/51-security-errors.t \
	t/40daemon/55-pod-settings.t \
	t/40daemon/57-userns.t \
	t/40daemon/58-devices.t \
	t/40daemon/60-cgroups.t \
	t/80regress/cancelled-pull.t \
	t/80regress/concurrent-lifecycle.t \
	t/80regress/hostile-paths.t \
	t/80regress/interrupted-create.t \
	t/80regress/reused-pid.t \
	t/99fuzz/replay.t
EXTRA_DIST += \
	t/lib/cri.py \
	t/lib/daemon.py \
	t/lib/fakes.py \
	t/lib/fakeserver.py \
	t/lib/images.py \
	t/lib/registry.py \
	t/lib/standin.py \
	t/lib/standin_server.py \
	t/lib/tap.py
EXTRA_DIST += scripts/test-cgroup2-vm
