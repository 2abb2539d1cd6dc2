/*
 * errbuf.h - the project's one way for a library to report an error: a
 * message formatted into the caller's buffer (err, errlen). Libraries never
 * print or exit; callers decide what to do with the text.
 */
#ifndef PMVM_UTIL_ERRBUF_H
#define PMVM_UTIL_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>

/* Format into err[errlen] (always NUL-terminated, cut if too long). A NULL
 * err or a zero errlen discards the message. */
void pmvm_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same with a va_list, for wrappers that also return a value. */
void pmvm_verrf(char *err, size_t errlen, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#endif
