# Sources and tests of src/platform; included by the top-level Makefile.am.
libcrisp_a_SOURCES += \
	src/platform/platform.h \
	src/platform/proc.c src/platform/proc.h
