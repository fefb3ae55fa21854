# Sources and tests of src/reactor; included by the top-level Makefile.am.
