/*
 * redis_key.h - the escaping of client-chosen names inside Redis keys (pure, no I/O), kept
 * apart from the Redis client so that parsers and their fuzz targets can use it alone.
 */
#ifndef POSTERN_LIB_REDIS_KEY_H
#define POSTERN_LIB_REDIS_KEY_H

/* The text to put between the braces of a key's hash tag ("pt:rl:{TEXT}:..."): ASCII
 * lower-cased, and '%', '{', '}', space, control and non-ASCII bytes written as %XX, so a
 * client-chosen name can neither break the hash tag nor reach another name's keys.
 * The caller frees the result. */
char *redis_key_escape(const char *s);

#endif
