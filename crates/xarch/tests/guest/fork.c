// fork and vfork-style spawning from a multi-threaded process; threads in
// the child; exit statuses; the leader exiting before its threads.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static volatile int stop;

static void *spinner(void *arg) {
    while (!stop)
        ;
    return NULL;
}

static void *child_thread(void *arg) { return (void *)42; }

static void *forker(void *arg) {
    pid_t pid = fork();
    if (pid == 0) {
        // Only this thread exists in the child; it can start new ones.
        pthread_t t;
        void *r;
        if (pthread_create(&t, NULL, child_thread, NULL) != 0)
            _exit(10);
        pthread_join(t, &r);
        _exit(r == (void *)42 ? 7 : 11);
    }
    int st;
    waitpid(pid, &st, 0);
    return (void *)(long)(WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st));
}

static void *late(void *arg) {
    usleep(100000);
    printf("late thread ran after main exited\n");
    fflush(stdout);
    pthread_exit(NULL);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        // Leader exits first; the process lives until its last thread.
        pthread_t t;
        pthread_create(&t, NULL, late, NULL);
        pthread_exit(NULL);
    }
    pthread_t spin[2], f;
    for (int i = 0; i < 2; i++)
        pthread_create(&spin[i], NULL, spinner, NULL);
    void *r;
    pthread_create(&f, NULL, forker, NULL);
    pthread_join(f, &r);
    if ((long)r != 7) {
        printf("fork child status %ld\n", (long)r);
        return 1;
    }
    // posix_spawn uses clone(CLONE_VM|CLONE_VFORK).
    pid_t pid;
    char *args[] = {argv[0], "leader-exit", NULL};
    if (posix_spawn(&pid, argv[0], NULL, NULL, args, environ) != 0) {
        printf("posix_spawn failed\n");
        return 1;
    }
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        printf("spawned child status %#x\n", st);
        return 1;
    }
    // A child killed by a signal.
    pid = fork();
    if (pid == 0) {
        raise(SIGTERM);
        _exit(0);
    }
    waitpid(pid, &st, 0);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGTERM) {
        printf("killed child status %#x\n", st);
        return 1;
    }
    stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(spin[i], NULL);
    printf("fork ok\n");
    return 0;
}
