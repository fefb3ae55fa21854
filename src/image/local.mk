# Sources and tests of src/image; included by the top-level Makefile.am.
