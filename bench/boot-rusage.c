/*
 * boot-rusage.c - the measuring helper for bench/boot.sh: runs one command
 * (stdin, stdout and stderr on /dev/null) and prints one line
 *   <wall microseconds> <peak RSS KiB> <exit status>
 * where wall time runs from just before fork() to the child's reaping and
 * the peak RSS is the child's ru_maxrss from wait4().
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	struct rusage ru;
	long long t0, t1;
	int status, fd;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: boot-rusage COMMAND [ARGS...]\n");
		return 2;
	}
	t0 = now_us();
	pid = fork();
	if (pid < 0) {
		perror("boot-rusage: fork");
		return 1;
	}
	if (pid == 0) {
		fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("boot-rusage: wait4");
		return 1;
	}
	t1 = now_us();
	printf("%lld %ld %d\n", t1 - t0, ru.ru_maxrss,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}
