# Sources and tests of src/platform; included by the top-level Makefile.am.
