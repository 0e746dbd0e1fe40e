// pthread mutex/condvar stress, thread ids, thread exit and join, and
// setuid with another thread alive.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define THREADS 8
#define ROUNDS 20000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long counter;
static atomic_long acounter;
static int turn;
static pid_t tids[THREADS];
static __thread int tls_value;

static void *worker(void *arg) {
    long id = (long)arg;
    tls_value = (int)id * 3;
    tids[id] = syscall(SYS_gettid);
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
        atomic_fetch_add(&acounter, 1);
    }
    // Condition variable ping-pong: each thread waits for its turn.
    for (int r = 0; r < 20; r++) {
        pthread_mutex_lock(&lock);
        while (turn % THREADS != id)
            pthread_cond_wait(&cond, &lock);
        turn++;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
    }
    if (tls_value != (int)id * 3)
        return (void *)1;
    return (void *)(id + 100);
}

// glibc's setuid in a threaded process signals every other thread with
// signal 33 (its SIGSETXID) and waits until each has made the call too:
// it hangs if that signal does not reach the guest's handler (as when
// the host libc's own first-thread set-up replaces xarch's handler).
static int release[2];

static void *parked(void *arg) {
    char c;
    (void)arg;
    return read(release[0], &c, 1) == 1 ? NULL : (void *)1;
}

static int setxid_with_threads(void) {
    pthread_t p;
    if (pipe(release) != 0 || pthread_create(&p, NULL, parked, NULL) != 0)
        return 0;
    alarm(30);
    int ok = setgid(getgid()) == 0 && setuid(getuid()) == 0;
    alarm(0);
    void *ret = (void *)1;
    return write(release[1], "x", 1) == 1 && pthread_join(p, &ret) == 0 && ret == NULL && ok;
}

int main(void) {
    if (!setxid_with_threads()) {
        printf("setuid with a thread alive failed\n");
        return 1;
    }
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i) != 0) {
            printf("create failed\n");
            return 1;
        }
    for (long i = 0; i < THREADS; i++) {
        void *ret;
        if (pthread_join(t[i], &ret) != 0 || ret != (void *)(i + 100)) {
            printf("join %ld failed: %p\n", i, ret);
            return 1;
        }
    }
    if (counter != (long)THREADS * ROUNDS || acounter != (long)THREADS * ROUNDS) {
        printf("counter %ld atomic %ld\n", counter, (long)acounter);
        return 1;
    }
    if (turn != THREADS * 20) {
        printf("turn %d\n", turn);
        return 1;
    }
    pid_t me = getpid();
    for (int i = 0; i < THREADS; i++) {
        if (tids[i] == me || tids[i] <= 0) {
            printf("bad tid %d\n", tids[i]);
            return 1;
        }
        for (int j = 0; j < i; j++)
            if (tids[i] == tids[j]) {
                printf("duplicate tid\n");
                return 1;
            }
    }
    printf("threads ok\n");
    return 0;
}
