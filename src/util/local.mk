# Sources and tests of src/util; included by the top-level Makefile.am.
check_PROGRAMS += t/00unit/util/util
TESTS += t/00unit/util/util
t_00unit_util_util_SOURCES = t/00unit/util/util.c
t_00unit_util_util_LDADD = $(CRISP_LIBS)
