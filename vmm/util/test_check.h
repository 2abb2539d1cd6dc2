/*
 * test_check.h - CHECK(cond, fmt, ...) for the test programs that do not use
 * cmocka (they run external tools or a real backend and count failures
 * rather than stop at the first): prints "FAIL file:line: message" and
 * counts it in the test's own `static int failures`.
 */
#ifndef PMVM_TEST_CHECK_H
#define PMVM_TEST_CHECK_H

#include <stdio.h>

#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);  \
			fprintf(stderr, __VA_ARGS__);                         \
			fputc('\n', stderr);                                  \
			failures++;                                           \
		}                                                             \
	} while (0)

#endif
