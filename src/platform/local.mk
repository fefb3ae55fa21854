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
