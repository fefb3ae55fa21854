/*
 * libarchive, loaded with dlopen(3) on first use.  crispd uses libarchive
 * only in the child process that unpacks a layer, so the daemon itself
 * does not map libarchive and the 10 shared objects it adds (2.6 MiB RSS,
 * measured with an empty program linked against crispd's libraries on
 * Debian 12, x86_64).  archive-shim.c defines the libarchive functions that
 * unpack.c calls, with libarchive's own names and prototypes, and forwards
 * them to the loaded library.  crispd is not linked with -larchive.
 */
#ifndef CRISP_IMAGE_ARCHIVE_SHIM_H
#define CRISP_IMAGE_ARCHIVE_SHIM_H

#include "util/err.h"

/*
 * Load libarchive (ARCHIVE_SONAME) and resolve every function the shim
 * forwards.  Must succeed before any of them is called.  Returns 0, also
 * when it is already loaded, or -1 with a FAILED_PRECONDITION error naming
 * the library or the missing symbol.
 */
int archive_shim_load(struct err **err);

#endif
