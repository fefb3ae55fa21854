# Sources and tests of src/handlers; included by the top-level Makefile.am.
libcrisp_a_SOURCES += \
	src/handlers/handlers.h \
	src/handlers/rpc.h \
	src/handlers/dispatch.c \
	src/handlers/runtime.c \
	src/handlers/sandbox.c \
	src/handlers/container.c \
	src/handlers/images.c \
	src/handlers/image-fs.c \
	src/handlers/logs.c \
	src/handlers/recover.c \
	src/handlers/resources.c src/handlers/resources.h \
	src/handlers/security.c src/handlers/security.h \
	src/handlers/devices.c src/handlers/devices.h \
	src/handlers/pod-settings.c src/handlers/pod-settings.h \
	src/handlers/userns.c src/handlers/userns.h
