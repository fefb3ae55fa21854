# Sources and tests of src/image; included by the top-level Makefile.am.
libcrisp_a_SOURCES += \
	src/image/image.h src/image/internal.h \
	src/image/archive-shim.c src/image/archive-shim.h \
	src/image/curl-shim.c src/image/curl-shim.h \
	src/image/digest.c \
	src/image/manifest.c \
	src/image/pull.c \
	src/image/registry-config.c \
	src/image/ref.c \
	src/image/registry.c \
	src/image/store.c \
	src/image/unpack.c src/image/unpack.h \
	src/image/unpack-job.c \
	src/image/usage.c

# The helper crispd runs for each layer it pulls.  libcrisp.a contributes
# only the unpack, archive shim and util objects.
pkglibexec_PROGRAMS += crisp-unpack
crisp_unpack_SOURCES = src/image/unpack-main.c
crisp_unpack_LDADD = libcrisp.a $(NETTLE_LIBS) $(DL_LIBS)

check_PROGRAMS += \
	t/00unit/image/curl-shim \
	t/00unit/image/ref \
	t/00unit/image/manifest \
	t/00unit/image/layer \
	t/00unit/image/registry-config \
	t/00unit/image/unpack-run \
	t/20image/pull-tool
TESTS += \
	t/00unit/image/curl-shim \
	t/00unit/image/ref \
	t/00unit/image/manifest \
	t/00unit/image/layer \
	t/00unit/image/registry-config \
	t/00unit/image/unpack-run

t_00unit_image_curl_shim_SOURCES = t/00unit/image/curl-shim.c t/00unit/tap.h
t_00unit_image_curl_shim_LDADD = $(CRISP_LIBS)
t_00unit_image_ref_SOURCES = t/00unit/image/ref.c t/00unit/tap.h
t_00unit_image_ref_LDADD = $(CRISP_LIBS)
t_00unit_image_manifest_SOURCES = t/00unit/image/manifest.c t/00unit/tap.h
t_00unit_image_manifest_LDADD = $(CRISP_LIBS)
t_00unit_image_layer_SOURCES = t/00unit/image/layer.c t/00unit/tap.h
t_00unit_image_layer_LDADD = $(CRISP_LIBS)
t_00unit_image_registry_config_SOURCES = t/00unit/image/registry-config.c t/00unit/tap.h
t_00unit_image_registry_config_LDADD = $(CRISP_LIBS)
t_00unit_image_unpack_run_SOURCES = t/00unit/image/unpack-run.c t/00unit/tap.h
t_00unit_image_unpack_run_LDADD = $(CRISP_LIBS)

# Pulls an image on a real event loop; run by hand or by the daemon-level tests.
t_20image_pull_tool_SOURCES = t/20image/pull-tool.c
t_20image_pull_tool_LDADD = $(CRISP_LIBS)

# The parsers are compiled into each target again so that libFuzzer's
# coverage instrumentation reaches them.
if ENABLE_FUZZING
check_PROGRAMS += fuzz/fuzz-image-ref fuzz/fuzz-image-manifest fuzz/fuzz-registry-config \
	fuzz/fuzz-www-authenticate
FUZZ_FLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_image_ref_SOURCES = fuzz/fuzz-image-ref.c src/image/ref.c src/image/digest.c
fuzz_fuzz_image_ref_CFLAGS = $(AM_CFLAGS) $(FUZZ_FLAGS)
fuzz_fuzz_image_ref_LDFLAGS = $(FUZZ_FLAGS)
fuzz_fuzz_image_ref_LDADD = $(CRISP_LIBS)
fuzz_fuzz_image_manifest_SOURCES = fuzz/fuzz-image-manifest.c src/image/manifest.c \
	src/image/digest.c
fuzz_fuzz_image_manifest_CFLAGS = $(AM_CFLAGS) $(FUZZ_FLAGS)
fuzz_fuzz_image_manifest_LDFLAGS = $(FUZZ_FLAGS)
fuzz_fuzz_image_manifest_LDADD = $(CRISP_LIBS)
fuzz_fuzz_registry_config_SOURCES = fuzz/fuzz-registry-config.c src/image/registry-config.c
fuzz_fuzz_registry_config_CFLAGS = $(AM_CFLAGS) $(FUZZ_FLAGS)
fuzz_fuzz_registry_config_LDFLAGS = $(FUZZ_FLAGS)
fuzz_fuzz_registry_config_LDADD = $(CRISP_LIBS)
fuzz_fuzz_www_authenticate_SOURCES = fuzz/fuzz-www-authenticate.c src/image/registry.c
fuzz_fuzz_www_authenticate_CFLAGS = $(AM_CFLAGS) $(FUZZ_FLAGS)
fuzz_fuzz_www_authenticate_LDFLAGS = $(FUZZ_FLAGS)
fuzz_fuzz_www_authenticate_LDADD = $(CRISP_LIBS)
endif
