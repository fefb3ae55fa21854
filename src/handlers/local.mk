# Sources and tests of src/handlers; included by the top-level Makefile.am.
