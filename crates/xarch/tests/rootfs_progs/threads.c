#include <pthread.h>
#include <stdio.h>
static __thread long mine;
static long total;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *work(void *arg) {
    for (long i = 0; i < 100000; i++) mine += (long)arg;
    pthread_mutex_lock(&lock); total += mine; pthread_mutex_unlock(&lock);
    return 0;
}
int main(void) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++) pthread_create(&t[i], 0, work, (void *)(i + 1));
    for (int i = 0; i < 4; i++) pthread_join(t[i], 0);
    printf("total %ld\n", total);
    return 0;
}
