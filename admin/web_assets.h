/*
 * web_assets.h - the web page's files (admin/assets/: HTML templates, style.css, app.js),
 * compiled into the binary. The table is generated at build time by
 * tools/embed-assets.sh into $(BUILD)/admin/web_assets_gen.c (never committed).
 */
#ifndef POSTERN_ADMIN_WEB_ASSETS_H
#define POSTERN_ADMIN_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
    const char *name;            /* file name in admin/assets/, "style.css" */
    const char *type;            /* Content-Type */
    const char *data;            /* the bytes, NUL-terminated (not counted in len) */
    size_t len;
};

extern const struct web_asset web_assets[];   /* ends with a NULL name */

/* The asset called name, or NULL. */
const struct web_asset *web_asset_find(const char *name);

#endif
