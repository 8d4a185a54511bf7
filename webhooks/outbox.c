/*
 * outbox.c - outbox records and durable file operations (see outbox.h).
 *
 * Writes follow the spool's rule: temp file, write, fsync, close, rename, fsync the
 * directory. Reads are bounded by WH_OUTBOX_FILE_MAX. Blocking; any thread.
 */
#include "webhooks/outbox.h"

#include "lib/fileio.h"
#include "lib/xalloc.h"
#include "webhooks/event.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUTBOX_DIR_MODE 0700
#define OUTBOX_FILE_MODE 0600
#define TMP_PREFIX ".tmp."
#define NAMES_INITIAL 16
#define TYPE_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_."

int wh_endpoint_name_valid(const char *name)
{
    size_t n = strlen(name);

    return n > 0 && n <= WH_ENDPOINT_NAME_MAX &&
           strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
               == n;
}

char *wh_outbox_file_name(const char *event_id, const char *endpoint)
{
    return xasprintf("%s.%s" WH_OUTBOX_SUFFIX, event_id, endpoint);
}

int wh_outbox_parse_name(const char *file, char id[], size_t id_size, char endpoint[],
                         size_t endpoint_size)
{
    const char *dot = strchr(file, '.');
    size_t n = strlen(file), slen = strlen(WH_OUTBOX_SUFFIX), idlen, eplen;

    if (dot == NULL || n <= slen || strcmp(file + n - slen, WH_OUTBOX_SUFFIX) != 0)
        return -1;
    idlen = (size_t)(dot - file);
    if (file + n - slen <= dot + 1)
        return -1;
    eplen = (size_t)(file + n - slen - (dot + 1));
    if (idlen >= id_size || eplen >= endpoint_size)
        return -1;
    memcpy(id, file, idlen);
    id[idlen] = '\0';
    memcpy(endpoint, dot + 1, eplen);
    endpoint[eplen] = '\0';
    return wh_event_id_valid(id) && wh_endpoint_name_valid(endpoint) ? 0 : -1;
}

char *wh_record_encode(const struct wh_record *r, size_t *len)
{
    json_t *o = json_pack("{s:s, s:I, s:I, s:O}", "endpoint", r->endpoint,
                          "attempts", (json_int_t)r->attempts,
                          "next_attempt_ms", (json_int_t)r->next_attempt_ms,
                          "event", r->event);
    char *s;

    if (o != NULL && r->last_error != NULL) {
        char ts[WH_TIMESTAMP_SIZE];
        wh_event_timestamp(ts, r->failed_at_ms);
        json_object_set_new(o, "last_error", json_string(r->last_error));
        json_object_set_new(o, "failed_at", json_string(ts));
        json_object_set_new(o, "failed_at_ms", json_integer(r->failed_at_ms));
    }
    s = o ? json_dumps(o, JSON_INDENT(1)) : NULL;
    json_decref(o);
    *len = s ? strlen(s) : 0;
    return s;
}

/* The checks on the event object: type known-looking, id ours, timestamp a string. */
static int record_check_event(const json_t *ev, char *err, size_t err_size)
{
    const char *type = NULL, *id = NULL, *ts = NULL;
    json_t *data = NULL;
    json_error_t je;

    if (json_unpack_ex((json_t *)ev, &je, 0, "{s:s, s:s, s:s, s:o}", "type", &type,
                       "id", &id, "timestamp", &ts, "data", &data) < 0) {
        snprintf(err, err_size, "event: %s", je.text);
        return -1;
    }
    if (!wh_event_id_valid(id) || strlen(type) > WH_EVENT_TYPE_MAX ||
        strspn(type, TYPE_CHARS) != strlen(type) || !json_is_object(data)) {
        snprintf(err, err_size, "event: bad id, type or data");
        return -1;
    }
    return 0;
}

int wh_record_decode(const char *text, size_t len, struct wh_record *r, char *err,
                     size_t err_size)
{
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je), *ev = NULL;
    const char *ep = NULL, *last = NULL;
    json_int_t attempts = 0, next = 0, failed_at = 0;

    memset(r, 0, sizeof(*r));
    if (o == NULL) {
        snprintf(err, err_size, "%d:%d: %s", je.line, je.column, je.text);
        return -1;
    }
    if (json_unpack_ex(o, &je, 0, "{s:s, s:I, s:I, s:o, s?s, s?I}", "endpoint", &ep,
                       "attempts", &attempts, "next_attempt_ms", &next, "event", &ev,
                       "last_error", &last, "failed_at_ms", &failed_at) < 0) {
        snprintf(err, err_size, "%s", je.text);
        json_decref(o);
        return -1;
    }
    if (!wh_endpoint_name_valid(ep) || attempts < 0 || next < 0 ||
        record_check_event(ev, err, err_size) < 0) {
        if (!wh_endpoint_name_valid(ep) || attempts < 0 || next < 0)
            snprintf(err, err_size, "bad endpoint, attempts or next_attempt_ms");
        json_decref(o);
        return -1;
    }
    r->endpoint = xstrdup(ep);
    r->event = json_incref(ev);
    r->attempts = attempts;
    r->next_attempt_ms = next;
    r->last_error = last ? xstrdup(last) : NULL;
    r->failed_at_ms = failed_at;
    json_decref(o);
    return 0;
}

void wh_record_clear(struct wh_record *r)
{
    free(r->endpoint);
    json_decref(r->event);
    free(r->last_error);
    memset(r, 0, sizeof(*r));
}

const char *wh_record_id(const struct wh_record *r)
{
    return json_string_value(json_object_get(r->event, "id"));
}

const char *wh_record_type(const struct wh_record *r)
{
    return json_string_value(json_object_get(r->event, "type"));
}

/* ---- files ---- */

static char *outbox_path(const char *dir, const char *sub, const char *name)
{
    if (sub && name)
        return xasprintf("%s/%s/%s", dir, sub, name);
    if (sub || name)
        return xasprintf("%s/%s", dir, sub ? sub : name);
    return xstrdup(dir);
}

/* fsync a directory so that a rename or unlink in it is durable. */
static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

static int mkdir_if_missing(const char *path)
{
    if (mkdir(path, OUTBOX_DIR_MODE) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int wh_outbox_prepare(const char *dir)
{
    char *n = outbox_path(dir, WH_OUTBOX_NEW, NULL), *f = outbox_path(dir, WH_OUTBOX_FAILED,
                                                                      NULL);
    int rc = mkdir_if_missing(dir);

    if (rc == 0)
        rc = mkdir_if_missing(n);
    if (rc == 0)
        rc = mkdir_if_missing(f);
    if (rc == 0 && access(dir, W_OK) < 0)
        rc = -errno;
    free(n);
    free(f);
    return rc;
}

int wh_outbox_write(const char *dir, const char *sub, const char *name, const char *data,
                    size_t len)
{
    char *d = outbox_path(dir, sub, NULL);
    char *tmp = xasprintf("%s/" TMP_PREFIX "%s.%ld", d, name, (long)getpid());
    char *final = outbox_path(dir, sub, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, OUTBOX_FILE_MODE), rc;

    rc = fd < 0 ? -errno : write_all(fd, data, len) < 0 ? -errno : 0;
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, final) < 0)
        rc = -errno;
    if (rc == 0)
        rc = fsync_dir(d);
    else if (fd >= 0)
        unlink(tmp);
    free(d);
    free(tmp);
    free(final);
    return rc;
}

int wh_outbox_remove(const char *dir, const char *sub, const char *name)
{
    char *d = outbox_path(dir, sub, NULL), *p = outbox_path(dir, sub, name);
    int rc = 0;

    if (unlink(p) < 0)
        rc = errno == ENOENT ? 1 : -errno;
    if (rc == 0)
        rc = fsync_dir(d);
    free(d);
    free(p);
    return rc > 0 ? 0 : rc;
}

int wh_outbox_adopt(const char *dir, const char *name)
{
    char *from = outbox_path(dir, WH_OUTBOX_NEW, name), *to = outbox_path(dir, NULL, name);
    int rc = rename(from, to) < 0 ? -errno : fsync_dir(dir);

    free(from);
    free(to);
    return rc;
}

int wh_outbox_move_failed(const char *dir, const char *name)
{
    char *from = outbox_path(dir, NULL, name), *to = outbox_path(dir, WH_OUTBOX_FAILED, name);
    char *fdir = outbox_path(dir, WH_OUTBOX_FAILED, NULL);
    int rc = rename(from, to) < 0 ? -errno : fsync_dir(fdir);

    if (rc == 0)
        rc = fsync_dir(dir);
    free(from);
    free(to);
    free(fdir);
    return rc;
}

int wh_outbox_read(const char *dir, const char *sub, const char *name, char **data,
                   size_t *len)
{
    char *p = outbox_path(dir, sub, name), *buf = NULL;
    int fd = open(p, O_RDONLY | O_CLOEXEC), rc = 0;
    struct stat st;
    size_t got = 0;

    free(p);
    *data = NULL;
    *len = 0;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0)
        rc = -errno;
    else if (st.st_size > WH_OUTBOX_FILE_MAX)
        rc = -EFBIG;
    if (rc == 0) {
        buf = xmalloc((size_t)st.st_size + 1);
        while (got < (size_t)st.st_size) {
            ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                rc = r < 0 ? -errno : -EIO;
                break;
            }
            got += (size_t)r;
        }
    }
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return 0;
}

int wh_outbox_clean_tmp(const char *dir, const char *sub)
{
    char *p = outbox_path(dir, sub, NULL);
    DIR *d = opendir(p);
    struct dirent *de;
    int n = 0;

    while (d && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 &&
            unlinkat(dirfd(d), de->d_name, 0) == 0)
            n++;
    }
    if (d)
        closedir(d);
    free(p);
    return n;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int wh_outbox_list(const char *dir, const char *sub, char ***names, size_t *n)
{
    char *p = outbox_path(dir, sub, NULL);
    DIR *d = opendir(p);
    struct dirent *de;
    size_t cap = NAMES_INITIAL;
    char id[WH_EVENT_ID_SIZE], ep[WH_ENDPOINT_NAME_MAX + 1];

    free(p);
    *names = NULL;
    *n = 0;
    if (d == NULL)
        return -errno;
    *names = xmalloc(cap * sizeof(char *));
    while ((de = readdir(d)) != NULL) {
        if (wh_outbox_parse_name(de->d_name, id, sizeof(id), ep, sizeof(ep)) < 0)
            continue;
        if (*n == cap) {
            cap *= 2;
            *names = xrealloc(*names, cap * sizeof(char *));
        }
        (*names)[(*n)++] = xstrdup(de->d_name);
    }
    closedir(d);
    qsort(*names, *n, sizeof(char *), name_cmp);
    return 0;
}

void wh_outbox_names_free(char **names, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
