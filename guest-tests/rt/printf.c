/*
 * printf.c - rt_vsnprintf and friends: %d %i %u %x %X %p %s %c %%, with
 * flags '-' and '0', a field width, a precision for %s (%.4s for ACPI
 * signatures) and the l, ll, z length modifiers.
 * Enough for TAP lines and diagnostics; no floating point.
 */
#include "rt.h"

struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_field(struct out *o, const char *s, size_t n, int width,
		      bool left, char pad)
{
	int fill = width > (int)n ? width - (int)n : 0;

	if (!left && pad == '0' && n && (*s == '-')) {
		put(o, *s++);
		n--;
	}
	if (!left)
		while (fill--)
			put(o, pad);
	while (n--)
		put(o, *s++);
	if (left)
		while (fill-- > 0)
			put(o, ' ');
}

int rt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };
	char tmp[24];

	for (; *fmt; fmt++) {
		bool left = false, is_signed = false;
		char pad = ' ';
		int width = 0, lng = 0, base = 10, prec = -1;
		unsigned long long v;
		const char *digits = "0123456789abcdef";

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		for (;; fmt++) {
			if (*fmt == '-')
				left = true;
			else if (*fmt == '0')
				pad = '0';
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		if (*fmt == '.') {
			prec = 0;
			for (fmt++; *fmt >= '0' && *fmt <= '9'; fmt++)
				prec = prec * 10 + (*fmt - '0');
		}
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'c':
			tmp[0] = (char)va_arg(ap, int);
			put_field(&o, tmp, 1, width, left, ' ');
			continue;
		case 's': {
			const char *s = va_arg(ap, const char *);

			if (!s)
				s = "(null)";
			put_field(&o, s, prec >= 0 ? strnlen(s, prec) : strlen(s),
				  width, left, ' ');
			continue;
		}
		case '%':
			put(&o, '%');
			continue;
		case 'd':
		case 'i':
			is_signed = true;
			break;
		case 'u':
			break;
		case 'X':
			digits = "0123456789ABCDEF";
			base = 16;
			break;
		case 'x':
			base = 16;
			break;
		case 'p':
			base = 16;
			lng = 2;
			put(&o, '0');
			put(&o, 'x');
			break;
		case '\0':
			fmt--;
			continue;
		default:
			put(&o, '%');
			put(&o, *fmt);
			continue;
		}
		if (*fmt == 'p')
			v = (uintptr_t)va_arg(ap, void *);
		else if (lng >= 2)
			v = va_arg(ap, unsigned long long);
		else if (lng == 1)
			v = va_arg(ap, unsigned long);
		else
			v = va_arg(ap, unsigned int);
		if (is_signed) {
			long long sv = lng >= 2 ? (long long)v :
				       lng == 1 ? (long)v : (int)v;
			bool neg = sv < 0;
			unsigned long long mag = neg ? 0 - (unsigned long long)sv :
						 (unsigned long long)sv;
			int i = sizeof(tmp);

			do {
				tmp[--i] = digits[mag % 10];
				mag /= 10;
			} while (mag);
			if (neg)
				tmp[--i] = '-';
			put_field(&o, tmp + i, sizeof(tmp) - i, width, left, pad);
		} else {
			int i = sizeof(tmp);

			do {
				tmp[--i] = digits[v % base];
				v /= base;
			} while (v);
			put_field(&o, tmp + i, sizeof(tmp) - i, width, left, pad);
		}
	}
	if (o.size)
		o.buf[o.len < o.size ? o.len : o.size - 1] = '\0';
	return (int)o.len;
}

int rt_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = rt_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int rt_printf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = rt_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	rt_puts(buf);
	return n;
}
