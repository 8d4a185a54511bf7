/*
 * conf_show.h - the settings of a loaded configuration that differ from the defaults
 * (`postern -n -N`, like `postconf -n`).
 */
#ifndef POSTERN_CONF_SHOW_H
#define POSTERN_CONF_SHOW_H

#include <stdio.h>

struct relay_conf;

/* Print, as indented JSON, only the keys of c whose value differs from its default (an
 * object key recursively, a list or map as a whole). Secrets stay masked as conf_print
 * masks them. Read-only; called once by main(). */
void conf_show_changed(FILE *out, const struct relay_conf *c);

#endif
