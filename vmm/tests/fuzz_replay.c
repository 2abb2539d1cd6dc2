/*
 * fuzz_replay.c - without libFuzzer (gcc builds): run the fuzz target over
 * each seed file given and over deterministic mutations of it (every
 * truncation length up to 4 KiB in steps, single-byte changes to 0x00/0xff
 * across the headers, pseudo-random byte flips).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)n + 1)) &&
	    fread(b, 1, (size_t)n, f) == (size_t)n) {
		*len = (size_t)n;
	} else {
		free(b);
		b = NULL;
	}
	fclose(f);
	return b;
}

int main(int argc, char **argv)
{
	unsigned long runs = 0, rng = 12345;

	for (int a = 1; a < argc; a++) {
		size_t len;
		uint8_t *seed = slurp(argv[a], &len), *m;

		if (!seed) {
			fprintf(stderr, "fuzz_replay: cannot read %s\n", argv[a]);
			return 1;
		}
		m = malloc(len + 1);
		if (!m)
			return 1;
		for (size_t t = 0; t <= len && t <= 4096; t += 7, runs++)
			LLVMFuzzerTestOneInput(seed, t);
		for (size_t i = 0; i < len && i < 1024; i++) {
			for (int v = 0; v < 2; v++, runs++) {
				memcpy(m, seed, len);
				m[i] = v ? 0xff : 0x00;
				LLVMFuzzerTestOneInput(m, len);
			}
		}
		for (int r = 0; r < 20000; r++, runs++) {
			memcpy(m, seed, len);
			for (int k = 0; k < 4; k++) {
				rng = rng * 6364136223846793005UL + 1442695040888963407UL;
				m[(rng >> 33) % (len < 4096 ? len : 4096)] = (uint8_t)(rng >> 17);
			}
			LLVMFuzzerTestOneInput(m, len);
		}
		free(m);
		free(seed);
	}
	printf("fuzz_replay: %lu inputs, no failure\n", runs);
	return 0;
}
