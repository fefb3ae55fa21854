# Fuzz targets.  Each target's LLVMFuzzerTestOneInput is built twice: as a
# libFuzzer binary with --enable-fuzzing (CC=clang), and in every build as
# fuzz/replay-<target>, which t/99fuzz/replay.t runs over fuzz/corpus/<target>/.
# Modules add their own targets the same way in their local.mk.
EXTRA_DIST += fuzz/corpus

check_PROGRAMS += \
	fuzz/replay-fuzz-cri-request \
	fuzz/replay-fuzz-cgroup-parent \
	fuzz/replay-fuzz-crilog \
	fuzz/replay-fuzz-grpc-server \
	fuzz/replay-fuzz-image-manifest \
	fuzz/replay-fuzz-image-ref \
	fuzz/replay-fuzz-registry-config \
	fuzz/replay-fuzz-seccomp-profile \
	fuzz/replay-fuzz-www-authenticate
fuzz_replay_fuzz_cri_request_SOURCES = fuzz/fuzz-cri-request.c fuzz/replay-main.c
fuzz_replay_fuzz_cri_request_LDADD = $(CRISP_LIBS)
fuzz_replay_fuzz_cgroup_parent_SOURCES = fuzz/fuzz-cgroup-parent.c fuzz/replay-main.c
fuzz_replay_fuzz_cgroup_parent_LDADD = $(CRISP_LIBS)
fuzz_replay_fuzz_crilog_SOURCES = fuzz/fuzz-crilog.c fuzz/replay-main.c
fuzz_replay_fuzz_crilog_LDADD = $(CRISP_LIBS)
fuzz_replay_fuzz_grpc_server_SOURCES = fuzz/fuzz-grpc-server.c fuzz/replay-main.c
fuzz_replay_fuzz_grpc_server_LDADD = $(CRISP_LIBS)
fuzz_replay_fuzz_image_manifest_SOURCES = fuzz/fuzz-image-manifest.c fuzz/replay-main.c
fuzz_replay_fuzz_image_manifest_LDADD = $(CRISP_LIBS)
fuzz_replay_fuzz_image_ref_SOURCES = fuzz/fuzz-image-ref.c fuzz/replay-main.c
fuzz_replay_fuzz_image_ref_LDADD = $(CRISP_LIBS)
fuzz_replay_fuzz_registry_config_SOURCES = fuzz/fuzz-registry-config.c fuzz/replay-main.c
fuzz_replay_fuzz_registry_config_LDADD = $(CRISP_LIBS)
fuzz_replay_fuzz_www_authenticate_SOURCES = fuzz/fuzz-www-authenticate.c fuzz/replay-main.c
fuzz_replay_fuzz_www_authenticate_LDADD = $(CRISP_LIBS)
fuzz_replay_fuzz_seccomp_profile_SOURCES = fuzz/fuzz-seccomp-profile.c fuzz/replay-main.c
fuzz_replay_fuzz_seccomp_profile_LDADD = $(CRISP_LIBS)

if ENABLE_FUZZING
noinst_PROGRAMS += fuzz/fuzz-cgroup-parent
fuzz_fuzz_cgroup_parent_SOURCES = fuzz/fuzz-cgroup-parent.c
fuzz_fuzz_cgroup_parent_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
fuzz_fuzz_cgroup_parent_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_cgroup_parent_LDADD = $(CRISP_LIBS)
noinst_PROGRAMS += fuzz/fuzz-cri-request
fuzz_fuzz_cri_request_SOURCES = fuzz/fuzz-cri-request.c
fuzz_fuzz_cri_request_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
fuzz_fuzz_cri_request_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_cri_request_LDADD = $(CRISP_LIBS)
endif
