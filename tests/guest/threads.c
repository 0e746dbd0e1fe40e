/* Threads: pthread_create/join with return values, a mutex-protected
 * counter, thread-local storage, a condition variable hand-off. */
#include "check.h"
#include <pthread.h>
#include <stdint.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long counter;
static int turn;
static __thread long tls = 7;

static void *worker(void *arg) {
    long id = (long)(intptr_t)arg;
    tls = id * 100;
    for (int i = 0; i < 20000; i++) {
        pthread_mutex_lock(&mu);
        counter++;
        pthread_mutex_unlock(&mu);
    }
    /* Take turns in id order. */
    pthread_mutex_lock(&mu);
    while (turn != id) pthread_cond_wait(&cv, &mu);
    printf("thread %ld: tls %ld\n", id, tls);
    turn++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return (void *)(intptr_t)(id * 11);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t t[4];
    for (long i = 0; i < 4; i++) CHECK(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) == 0);
    long rets = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        CHECK(pthread_join(t[i], &r) == 0);
        rets += (long)(intptr_t)r;
    }
    printf("counter: %ld\n", counter);
    printf("join values sum: %ld\n", rets);
    printf("main tls: %ld\n", tls);
    FINISH();
}
