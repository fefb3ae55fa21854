# Sources and tests of src/store; included by the top-level Makefile.am.
libcrisp_a_SOURCES += src/store/store.c src/store/store.h
