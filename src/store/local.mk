# Sources and tests of src/store; included by the top-level Makefile.am.
