// pthread mutex/condvar stress, thread ids, thread exit and join.
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

int main(void) {
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
