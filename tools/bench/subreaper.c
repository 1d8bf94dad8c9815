// Runs a command as a child subreaper (kept across exec), so it reaps the container processes that
// create/start leave behind instead of the host's pid 1.
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: subreaper COMMAND [ARG...]\n");
        return 2;
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        perror("subreaper: prctl(PR_SET_CHILD_SUBREAPER)");
        return 1;
    }
    execvp(argv[1], argv + 1);
    perror("subreaper: exec");
    return 127;
}
