# Sources and tests of src/util; included by the top-level Makefile.am.
