/*
 * outbox.h - the durable webhook outbox: a directory with one file per (event, endpoint).
 *
 * Layout of outbox_dir:
 *   EVENTID.ENDPOINT.json          pending: the daemon is delivering it
 *   new/EVENTID.ENDPOINT.json      dropped in by another process (posternctl webhooks
 *                                  test); the daemon adopts it (rename into the top level)
 *   failed/EVENTID.ENDPOINT.json   the retry schedule was exhausted; kept for the admin
 *   .../.tmp.*                     being written; never read
 * A file is one JSON object (a record): {"endpoint","attempts","next_attempt_ms","event"}
 * plus "last_error" and "failed_at" in failed/. Every write goes to a temp file that is
 * fsynced, renamed into place, and the directory is fsynced, so a file is either absent or
 * complete after a crash or power loss.
 *
 * The record codec is pure. The file functions block (open, fsync, rename): the daemon
 * calls them on the worker pool (webhooks/store.c), posternctl calls them directly.
 * Any thread; no globals.
 */
#ifndef POSTERN_WEBHOOKS_OUTBOX_H
#define POSTERN_WEBHOOKS_OUTBOX_H

#include <jansson.h>
#include <stddef.h>

#define WH_OUTBOX_NEW "new"
#define WH_OUTBOX_FAILED "failed"
#define WH_OUTBOX_SUFFIX ".json"
#define WH_OUTBOX_FILE_MAX (1024 * 1024)   /* bytes; larger files are not read */
#define WH_ENDPOINT_NAME_MAX 64

struct wh_record {
    char *endpoint;              /* endpoint name */
    json_t *event;               /* the payload object (type, timestamp, id, data) */
    long long attempts;          /* attempts already made */
    long long next_attempt_ms;   /* unix ms of the next attempt (0: at once) */
    char *last_error;            /* failed records: why the last attempt failed */
    long long failed_at_ms;      /* failed records: when it was given up */
};

/* 1 when name is a valid endpoint name: 1..64 of [A-Za-z0-9_-]. */
int wh_endpoint_name_valid(const char *name);

/* "EVENTID.ENDPOINT.json" (malloc'd). */
char *wh_outbox_file_name(const char *event_id, const char *endpoint);

/* Split a file name made by wh_outbox_file_name into its two parts. Returns 0, or -1
 * when the name is not one of ours (temp files, stray files). */
int wh_outbox_parse_name(const char *file, char id[], size_t id_size, char endpoint[],
                         size_t endpoint_size);

/* Encode a record (malloc'd text, length in *len). */
char *wh_record_encode(const struct wh_record *r, size_t *len);

/* Decode and validate text into r (zeroed first). Returns 0, or -1 with a reason in err. */
int wh_record_decode(const char *text, size_t len, struct wh_record *r, char *err,
                     size_t err_size);

/* Free what a record owns and zero it. */
void wh_record_clear(struct wh_record *r);

/* The event's "id" and "type" (point into r->event). */
const char *wh_record_id(const struct wh_record *r);
const char *wh_record_type(const struct wh_record *r);

/* ---- blocking file operations; return 0 or -errno ---- */

/* Create dir, dir/new and dir/failed (mode 0700) when missing. */
int wh_outbox_prepare(const char *dir);

/* Durably write data as dir[/sub]/name (sub may be NULL). */
int wh_outbox_write(const char *dir, const char *sub, const char *name, const char *data,
                    size_t len);

/* Durably remove dir[/sub]/name; a missing file is success. */
int wh_outbox_remove(const char *dir, const char *sub, const char *name);

/* Move dir/new/name to dir/name (atomic) and fsync dir. */
int wh_outbox_adopt(const char *dir, const char *name);

/* Move dir/name to dir/failed/name as it is (a file that cannot be used). */
int wh_outbox_move_failed(const char *dir, const char *name);

/* Read dir[/sub]/name into a malloc'd NUL-terminated buffer; -EFBIG above the max. */
int wh_outbox_read(const char *dir, const char *sub, const char *name, char **data,
                   size_t *len);

/* Remove temp files left in dir[/sub] by a crash. Returns how many were removed. */
int wh_outbox_clean_tmp(const char *dir, const char *sub);

/* Names of our files in dir[/sub], sorted (so oldest events first). *names is a
 * malloc'd array of malloc'd strings; free with wh_outbox_names_free. A missing
 * directory gives 0 names and -ENOENT. */
int wh_outbox_list(const char *dir, const char *sub, char ***names, size_t *n);
void wh_outbox_names_free(char **names, size_t n);

#endif
