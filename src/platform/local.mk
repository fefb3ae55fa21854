# Sources and tests of src/platform; included by the top-level Makefile.am.
libcrisp_a_SOURCES += \
	src/platform/platform.h \
	src/platform/proc.c src/platform/proc.h
libcrisp_a_SOURCES += \
	src/platform/crilog.c src/platform/crilog.h

check_PROGRAMS += t/00unit/platform/crilog
TESTS += t/00unit/platform/crilog
t_00unit_platform_crilog_SOURCES = t/00unit/platform/crilog.c
t_00unit_platform_crilog_LDADD = $(CRISP_LIBS)
libcrisp_a_SOURCES += \
	src/platform/internal.h src/platform/child.c \
	src/platform/pod.c src/platform/container.c src/platform/mounts.c \
	src/platform/userns.c \
	src/platform/pod-files.c src/platform/sysctl.c

check_PROGRAMS += t/00unit/platform/pod-files
TESTS += t/00unit/platform/pod-files
t_00unit_platform_pod_files_SOURCES = t/00unit/platform/pod-files.c
t_00unit_platform_pod_files_LDADD = $(CRISP_LIBS)
libcrisp_a_SOURCES += \
	src/platform/caps.c src/platform/security.c src/platform/seccomp.c \
	src/platform/seccomp-profile.c src/platform/seccomp-default.c

check_PROGRAMS += t/00unit/platform/caps t/00unit/platform/seccomp
TESTS += t/00unit/platform/caps t/00unit/platform/seccomp
t_00unit_platform_caps_SOURCES = t/00unit/platform/caps.c
t_00unit_platform_caps_LDADD = $(CRISP_LIBS)
t_00unit_platform_seccomp_SOURCES = t/00unit/platform/seccomp.c
t_00unit_platform_seccomp_LDADD = $(CRISP_LIBS)

check_PROGRAMS += t/20platform/container
TESTS += t/20platform/container
t_20platform_container_SOURCES = t/20platform/container.c
t_20platform_container_CPPFLAGS = $(AM_CPPFLAGS) -DCRISP_TEST_BUILDDIR='"$(abs_top_builddir)"'
t_20platform_container_LDADD = $(CRISP_LIBS)

if ENABLE_FUZZING
# crilog.c is compiled into the target itself so the fuzzer sees its coverage.
check_PROGRAMS += fuzz/fuzz-crilog
fuzz_fuzz_crilog_SOURCES = fuzz/fuzz-crilog.c src/platform/crilog.c
fuzz_fuzz_crilog_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
fuzz_fuzz_crilog_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_crilog_LDADD = $(CRISP_LIBS)
noinst_PROGRAMS += fuzz/fuzz-seccomp-profile
fuzz_fuzz_seccomp_profile_SOURCES = fuzz/fuzz-seccomp-profile.c
fuzz_fuzz_seccomp_profile_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
fuzz_fuzz_seccomp_profile_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_seccomp_profile_LDADD = $(CRISP_LIBS)
endif

libcrisp_a_SOURCES += \
	src/platform/cgroup.h src/platform/cgroup-internal.h \
	src/platform/cgroup.c src/platform/cgroup-v1.c src/platform/cgroup-v2.c \
	src/platform/cgroup-devices.c

check_PROGRAMS += t/00unit/platform/cgroup
TESTS += t/00unit/platform/cgroup
t_00unit_platform_cgroup_SOURCES = t/00unit/platform/cgroup.c
t_00unit_platform_cgroup_LDADD = $(CRISP_LIBS)

check_PROGRAMS += t/00unit/platform/cgroup-devices
TESTS += t/00unit/platform/cgroup-devices
t_00unit_platform_cgroup_devices_SOURCES = t/00unit/platform/cgroup-devices.c
t_00unit_platform_cgroup_devices_LDADD = $(CRISP_LIBS)

check_PROGRAMS += t/20platform/devices
TESTS += t/20platform/devices
t_20platform_devices_SOURCES = t/20platform/devices.c
t_20platform_devices_LDADD = $(CRISP_LIBS)

check_PROGRAMS += t/00unit/platform/userns
TESTS += t/00unit/platform/userns
t_00unit_platform_userns_SOURCES = t/00unit/platform/userns.c
t_00unit_platform_userns_LDADD = $(CRISP_LIBS)

check_PROGRAMS += t/20platform/cgroup-v2
TESTS += t/20platform/cgroup-v2
t_20platform_cgroup_v2_SOURCES = t/20platform/cgroup-v2.c
t_20platform_cgroup_v2_LDADD = $(CRISP_LIBS)
