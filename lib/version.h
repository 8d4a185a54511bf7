/*
 * version.h - the version both programs print (postern -V, posternctl --version) and the
 * daemon logs at start; the Makefile puts the same number into the man pages.
 */
#ifndef POSTERN_VERSION_H
#define POSTERN_VERSION_H

#define POSTERN_VERSION "0.1.0"

#endif
