/*
 * scan_cmd.h - `posternctl scan`: scan files through exactly the daemon's path (the
 * scanner program started by scan_client, the descriptor passed to it).
 */
#ifndef POSTERN_CONTENT_SCAN_CMD_H
#define POSTERN_CONTENT_SCAN_CMD_H

#include <stdio.h>

/* argv[0] is "scan". Prints "RESULT NAME PATH" per file to out ("clean - PATH").
 * Returns 0 when every file is clean, 1 when something was found (virus, unscanned,
 * encrypted), 75 when a scan could not be done, 64 on a usage error. */
int scan_cmd(int argc, char **argv, FILE *out);

#endif
