/*
 * check_filetype.c - the file-type check (issue 12): blocked attachments by name, declared
 * type, real type and names inside zip archives; malformed MIME.
 *
 * END stage, every direction. The message is read from the spool (pread on a dup of the
 * queue file descriptor) on the check pool and streamed through the MIME parser
 * (content/mime.h); each leaf part gives its names, declared type, first decoded bytes
 * and, for a zip, the names inside (content/zip_list.h). Back on the loop, each recipient
 * is judged with its own domain's lists (domains.*.blocked_extensions, blocked_types)
 * when they are not empty, else its level's (policy.levels.*.blocked_extensions,
 * blocked_types; the defaults are the lists), and the check's double-extension list
 * (content/filetype.h), and gets:
 *   - FILETYPE_BLOCKED (text: the file name), and the action of its file_action setting:
 *     reject (554 5.7.1 naming the file; always on submission), quarantine, wrap (the
 *     inbound default), mark (an X-Postern-Blocked-File header), delete, off;
 *   - MIME_MALFORMED (text: what is wrong) when the parser flagged the structure; levels
 *     named in malformed_refuse_levels refuse it (554 5.7.1);
 *   - FILETYPE_ENCRYPTED_ZIP when a zip has encrypted entries (its names may hide more).
 * The transaction fact "filetype.blocked" lists what was blocked for any recipient:
 * [{"part": MIME part id, "file": name, "rule": "extension", "detail": "exe"}], so that
 * the wrap action can take those parts out (same parser, same ids).
 * A message that cannot be read gets the unsure rule (default: defer), never a pass.
 * The stream-time wiring (parsing while DATA arrives) comes with the engine wiring; the
 * parser is the same.
 */
#include "policy/checks/checks.h"

#include "content/filetype.h"
#include "content/magic.h"
#include "content/mime.h"
#include "content/zip_list.h"
#include "lib/smtp_replies.h"
#include "lib/xalloc.h"
#include "policy/domain_conf.h"
#include "policy/levels.h"
#include "policy/settings.h"

#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FT_READ_CHUNK 65536

/* ---- settings ------------------------------------------------------------------------ */

struct ft_settings {
    struct conf_strlist double_extensions;
    bool check_content;
    bool check_archives;
    struct conf_strlist malformed_refuse_levels;
    long long max_depth;
    long long max_parts;
};

#define FS(f) offsetof(struct ft_settings, f)
static const struct conf_key ft_keys[] = {
    { .name = "double_extensions", .type = CONF_STRLIST, .offset = FS(double_extensions),
      .def = "[\"exe\", \"vbs\", \"pif\", \"scr\", \"bat\", \"cmd\", \"com\", \"cpl\", \"dll\"]",
      .help = "a file name whose last extension is one of these after another extension "
              "(invoice.pdf.exe) is blocked" },
    { .name = "check_content", .type = CONF_BOOL, .offset = FS(check_content), .def = "true",
      .help = "block executable content (PE, ELF, Mach-O) under a name that does not say so" },
    { .name = "check_archives", .type = CONF_BOOL, .offset = FS(check_archives),
      .def = "true", .help = "apply the name rules to the names inside zip archives" },
    { .name = "malformed_refuse_levels", .type = CONF_STRLIST,
      .offset = FS(malformed_refuse_levels), .def = "[\"high\"]",
      .help = "protection levels whose recipients refuse malformed MIME (554 5.7.1)" },
    { .name = "max_depth", .type = CONF_INT, .offset = FS(max_depth), .def = "20", .min = 1,
      .max = MIME_DEPTH_HARD, .help = "MIME nesting followed; deeper is malformed" },
    { .name = "max_parts", .type = CONF_INT, .offset = FS(max_parts), .def = "1000",
      .min = 1, .max = 100000, .help = "MIME parts examined; more is malformed" },
    { .name = NULL }
};
static const struct conf_section ft_section = { .name = "filetype check", .keys = ft_keys };

static const struct symbol_def ft_symbols[] = {
    { "FILETYPE_BLOCKED", 0, "an attachment of a blocked type (its action is file_action)" },
    { "MIME_MALFORMED", 1.0, "the MIME structure is malformed or ambiguous" },
    { "FILETYPE_ENCRYPTED_ZIP", 0.5, "a zip archive with encrypted entries" },
    { NULL, 0, NULL }
};

/* ---- the worker job: one pass over the message ------------------------------------ */

struct ft_file {
    unsigned id;                     /* the MIME part's */
    bool zip_checked;
    char filename[MIME_NAME_MAX];
    char name[MIME_NAME_MAX];
    char type[MIME_TYPE_MAX];
    unsigned char head[MIME_HEAD_MAX];
    size_t head_len;
    char **members;
    size_t n_members;
};

struct ft_job {
    int fd;
    unsigned long long offset, size;
    struct mime_limits lim;
    bool archives;
    /* results */
    int err;                         /* errno of a failed read, or 0 */
    unsigned mime_flags;
    bool encrypted_zip;
    struct ft_file *files;
    size_t n, cap;
    /* during the pass */
    struct zip_list *zip;
    unsigned zip_id;                 /* the part the zip lister reads */
};

/* The file of part id (the last begun, or its parent when a uuencoded file ended). */
static struct ft_file *file_of(struct ft_job *j, unsigned id)
{
    size_t i;

    for (i = j->n; i-- > 0;)
        if (j->files[i].id == id)
            return &j->files[i];
    return NULL;
}

static void ft_begin(void *arg, const struct mime_part *p)
{
    struct ft_job *j = arg;
    struct ft_file *f;

    if (p->kind != MIME_KIND_LEAF)
        return;
    if (j->n == j->cap) {
        j->cap = j->cap ? 2 * j->cap : 16;
        j->files = xrealloc(j->files, j->cap * sizeof(*j->files));
    }
    f = &j->files[j->n++];
    memset(f, 0, sizeof(*f));
    f->id = p->id;
    memcpy(f->filename, p->filename, sizeof(f->filename));
    memcpy(f->name, p->name, sizeof(f->name));
    memcpy(f->type, p->type, sizeof(f->type));
}

static void ft_data(void *arg, const struct mime_part *p, const unsigned char *d, size_t n)
{
    struct ft_job *j = arg;
    struct ft_file *f;

    if (!j->archives || (f = file_of(j, p->id)) == NULL)
        return;
    if (!f->zip_checked && p->head_len >= 4 && j->zip == NULL) {
        f->zip_checked = true;
        if (magic_detect(p->head, p->head_len) == MAGIC_ZIP) {
            j->zip = zip_list_new();
            j->zip_id = p->id;
            /* the bytes before this piece are in head (a zip starts in its first bytes) */
            if (p->size > n)
                zip_list_feed(j->zip, p->head, (size_t)(p->size - n));
        }
    }
    if (j->zip != NULL && j->zip_id == p->id)
        zip_list_feed(j->zip, d, n);
}

static void ft_end(void *arg, const struct mime_part *p)
{
    struct ft_job *j = arg;
    struct ft_file *f;
    size_t i;

    if (p->kind != MIME_KIND_LEAF || (f = file_of(j, p->id)) == NULL)
        return;
    memcpy(f->head, p->head, p->head_len);
    f->head_len = p->head_len;
    if (j->zip != NULL && j->zip_id == p->id) {
        zip_list_end(j->zip);
        f->n_members = zip_list_count(j->zip);
        f->members = xcalloc(f->n_members + 1, sizeof(*f->members));
        for (i = 0; i < f->n_members; i++)
            f->members[i] = xstrdup(zip_list_name(j->zip, i));
        if (zip_list_flags(j->zip) & ZIP_F_ENCRYPTED)
            j->encrypted_zip = true;
        zip_list_free(j->zip);
        j->zip = NULL;
    }
}

static void job_work(void *arg)
{
    struct ft_job *j = arg;
    struct mime_callbacks cb = { ft_begin, ft_data, ft_end, NULL };
    struct mime_parser *m = mime_new(&j->lim, &cb, j);
    unsigned char *buf = xmalloc(FT_READ_CHUNK);
    unsigned long long done = 0;

    while (done < j->size) {
        size_t want = j->size - done < FT_READ_CHUNK ? (size_t)(j->size - done) : FT_READ_CHUNK;
        ssize_t got = pread(j->fd, buf, want, (off_t)(j->offset + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            j->err = got < 0 ? errno : EIO;
            break;
        }
        mime_feed(m, buf, (size_t)got);
        done += (unsigned long long)got;
    }
    mime_end(m);
    j->mime_flags = mime_flags(m);
    mime_free(m);
    free(buf);
}

static void job_free(void *arg)
{
    struct ft_job *j = arg;
    size_t i, k;

    for (i = 0; i < j->n; i++) {
        for (k = 0; k < j->files[i].n_members; k++)
            free(j->files[i].members[k]);
        free(j->files[i].members);
    }
    free(j->files);
    zip_list_free(j->zip);
    if (j->fd >= 0)
        close(j->fd);
    free(j);
}

/* ---- judging, on the loop ------------------------------------------------------------ */

static bool in_strlist(const struct conf_strlist *l, const char *s)
{
    size_t i;

    for (i = 0; s != NULL && i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

/* The first blocked file of the message for recipient i's lists, or FT_PASS. */
static enum filetype_rule judge(const struct ft_job *j, const struct ft_settings *fs,
                                const struct policy_settings *ps, struct filetype_verdict *v,
                                size_t *which)
{
    const struct filetype_policy *def = filetype_default_policy();
    struct filetype_policy pol = *def;
    size_t i;

    /* the domain's own lists, else its level's (each defaults to the shipped list) */
    if (ps != NULL) {
        const struct conf_strlist *ext = NULL, *typ = NULL;
        if (ps->domain != NULL && ps->domain->blocked_extensions.n > 0)
            ext = &ps->domain->blocked_extensions;
        else if (ps->level != NULL)
            ext = &ps->level->blocked_extensions;
        if (ps->domain != NULL && ps->domain->blocked_types.n > 0)
            typ = &ps->domain->blocked_types;
        else if (ps->level != NULL)
            typ = &ps->level->blocked_types;
        if (ext != NULL) {
            pol.extensions = (const char *const *)ext->v;
            pol.n_extensions = ext->n;
        }
        if (typ != NULL) {
            pol.types = (const char *const *)typ->v;
            pol.n_types = typ->n;
        }
    }
    pol.double_ext = (const char *const *)fs->double_extensions.v;
    pol.n_double_ext = fs->double_extensions.n;
    pol.magic = fs->check_content;
    pol.archives = fs->check_archives;
    for (i = 0; i < j->n; i++) {
        const struct ft_file *f = &j->files[i];
        struct filetype_file ff = {
            .filename = f->filename, .name = f->name, .type = f->type, .head = f->head,
            .head_len = f->head_len, .members = (const char *const *)f->members,
            .n_members = f->n_members,
        };
        if (filetype_check(&pol, &ff, v) != FT_PASS) {
            *which = i;
            return v->rule;
        }
    }
    v->rule = FT_PASS;
    return FT_PASS;
}

static void flags_text(unsigned flags, char *out, size_t size)
{
    size_t o = 0;
    unsigned b;

    out[0] = '\0';
    for (b = 1; b != 0 && flags != 0; b <<= 1)
        if (flags & b) {
            int k = snprintf(out + o, size - o, "%s%s", o ? ", " : "", mime_flag_name(b));
            if (k < 0 || (size_t)k >= size - o)
                break;
            o += (size_t)k;
            flags &= ~b;
        }
}

static void job_done(struct check_call *c, void *arg)
{
    struct ft_job *j = arg;
    const struct ft_settings *fs = check_call_settings(c);
    char why[FILETYPE_FILE_MAX + 128], bad[200];
    size_t i, n = check_call_nrcpt(c), which = 0;
    json_t *blocked = json_array();
    bool *listed = xcalloc(j->n + 1, sizeof(*listed));

    if (j->err != 0) {
        check_unsure(c, CHECK_ALL, NULL);
        json_decref(blocked);
        free(listed);
        check_done(c);
        return;
    }
    flags_text(j->mime_flags, bad, sizeof(bad));
    for (i = 0; i < n; i++) {
        const struct policy_settings *ps = check_call_rcpt_settings(c, (ssize_t)i);
        struct filetype_verdict v;
        int action = ps ? ps->file_action : CONTENT_REJECT;

        if (check_call_submission(c))
            action = CONTENT_REJECT;     /* never relay a blocked file */
        if (j->mime_flags != 0) {
            check_symbol(c, (ssize_t)i, "MIME_MALFORMED", 1.0, bad);
            if (ps != NULL && ps->level != NULL &&
                in_strlist(&fs->malformed_refuse_levels, ps->level->name))
                check_verdict(c, (ssize_t)i, VERDICT_REFUSE, R_MIME_MALFORMED, bad);
        }
        if (j->encrypted_zip)
            check_symbol(c, (ssize_t)i, "FILETYPE_ENCRYPTED_ZIP", 1.0, NULL);
        if (action == CONTENT_OFF || judge(j, fs, ps, &v, &which) == FT_PASS)
            continue;
        if (!listed[which]) {
            listed[which] = true;
            json_array_append_new(blocked, json_pack("{s:i, s:s, s:s, s:s}",
                "part", (json_int_t)j->files[which].id, "file", v.file,
                "rule", filetype_rule_name(v.rule), "detail", v.detail));
        }
        snprintf(why, sizeof(why), "blocked file %s (%s %s)", v.file,
                 filetype_rule_name(v.rule), v.detail);
        check_symbol(c, (ssize_t)i, "FILETYPE_BLOCKED", 1.0, v.file);
        switch (action) {
        case CONTENT_REJECT:
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, R_FILE_BLOCKED, v.file,
                          filetype_rule_name(v.rule));
            break;
        case CONTENT_QUARANTINE:
            check_disposition(c, (ssize_t)i, DISP_QUARANTINE, why);
            break;
        case CONTENT_WRAP:
            check_disposition(c, (ssize_t)i, DISP_WRAP, why);
            break;
        case CONTENT_MARK:
            check_header(c, (ssize_t)i, "X-Postern-Blocked-File", v.file);
            break;
        case CONTENT_DELETE:
            check_disposition(c, (ssize_t)i, DISP_DISCARD, why);
            break;
        default:
            break;
        }
    }
    /* for the wrap action: which MIME parts (content/mime.h ids) to take out */
    if (json_array_size(blocked) > 0)
        check_fact_set(c, FACT_TX, "filetype.blocked", blocked);
    else
        json_decref(blocked);
    free(listed);
    check_done(c);
}

/* A descriptor of the queue file that can be read. The spool writes through an O_WRONLY
 * descriptor, so a plain dup would not do: that one is opened again for reading through
 * /proc/self/fd (a new open file description of the same file). */
static int readable_fd(int fd)
{
    char path[40];
    int fl;

    if (fd < 0 || (fl = fcntl(fd, F_GETFL)) < 0)
        return -1;
    if ((fl & O_ACCMODE) != O_WRONLY)
        return fcntl(fd, F_DUPFD_CLOEXEC, 0);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    return open(path, O_RDONLY | O_CLOEXEC);
}

static enum call_status ft_run(struct check_call *c)
{
    const struct engine_message *m = check_call_message(c);
    const struct ft_settings *fs = check_call_settings(c);
    struct ft_job *j;

    if (m == NULL || check_call_nrcpt(c) == 0)
        return CALL_DONE;
    j = xcalloc(1, sizeof(*j));
    if ((j->fd = readable_fd(m->fd)) < 0) {
        free(j);
        check_unsure(c, CHECK_ALL, NULL);
        return CALL_DONE;
    }
    j->offset = m->offset;
    j->size = m->size;
    j->lim.max_depth = (unsigned)fs->max_depth;
    j->lim.max_parts = (unsigned)fs->max_parts;
    j->archives = fs->check_archives;
    return check_work_submit(c, j, job_work, job_done, job_free) == 0 ? CALL_PENDING
                                                                      : CALL_DONE;
}

static void ft_cancel(struct check_call *c)
{
    (void)c;   /* the worker job is detached by the engine and freed with job_free */
}

const struct check_def check_filetype = {
    .name = "filetype",
    .description = "blocked attachments (extension, double extension, MIME type, real type, "
                   "names in zips) and malformed MIME",
    .stages = STAGE_BIT(STAGE_END),
    .directions = DIR_ALL,
    .group = 80,
    .async = true,
    .flags = CHECK_USES_SETTINGS,
    .unsure = UNSURE_DEFER,
    .reason = "blocked file",
    .symbols = ft_symbols,
    .settings = &ft_section,
    .settings_size = sizeof(struct ft_settings),
    .run = ft_run,
    .cancel = ft_cancel,
};
