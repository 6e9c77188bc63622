// SHA-512 of a stream on a thread of its own: the caller hands over bytes (copied into a ring
// of four 1 MiB slots) and goes on with its work (receiving, writing, SHA-256) while this
// thread hashes. A download hashed with both SHA-256 and SHA-512 then costs the longer of the
// two on two cores, not their sum. Without a thread (creation failed) it hashes in the caller.
#include "CIntegrity.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4
#define SLOT_SIZE (1u << 20)

struct ad_sha512_worker {
    uint64_t state[8];
    uint64_t total;
    pthread_t thread;
    int threaded;
    int joined;
    pthread_mutex_t mutex;
    pthread_cond_t changed;
    int head;              // the next slot the thread hashes
    int full;              // slots handed over and not yet hashed
    int done;              // no more slots will come
    size_t fill;           // bytes in the caller's current slot, slot (head + full) % SLOTS
    size_t sizes[SLOTS];
    uint8_t *slots[SLOTS];
};

static const uint64_t initial[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static void *run(void *argument) {
    ad_sha512_worker *worker = argument;
    pthread_mutex_lock(&worker->mutex);
    for (;;) {
        while (worker->full == 0 && !worker->done) pthread_cond_wait(&worker->changed, &worker->mutex);
        if (worker->full == 0) break;
        int slot = worker->head;
        pthread_mutex_unlock(&worker->mutex);
        // Every slot but the last is whole blocks (SLOT_SIZE is a multiple of 128).
        ad_sha512_blocks(worker->state, worker->slots[slot], worker->sizes[slot] / 128);
        pthread_mutex_lock(&worker->mutex);
        if (worker->sizes[slot] % 128 != 0) break;  // the last slot: its tail is padded in finish
        worker->head = (worker->head + 1) % SLOTS;
        worker->full--;
        pthread_cond_broadcast(&worker->changed);
    }
    pthread_mutex_unlock(&worker->mutex);
    return NULL;
}

ad_sha512_worker *ad_sha512_worker_start(void) {
    ad_sha512_worker *worker = calloc(1, sizeof *worker);
    if (!worker) return NULL;
    memcpy(worker->state, initial, sizeof initial);
    for (int i = 0; i < SLOTS; i++) {
        worker->slots[i] = malloc(SLOT_SIZE);
        if (!worker->slots[i]) {
            for (int j = 0; j < i; j++) free(worker->slots[j]);
            free(worker);
            return NULL;
        }
    }
    pthread_mutex_init(&worker->mutex, NULL);
    pthread_cond_init(&worker->changed, NULL);
    worker->threaded = pthread_create(&worker->thread, NULL, run, worker) == 0;
    return worker;
}

/// Hands the caller's current slot (`size` bytes) to the thread, waiting for a free one after it.
static void hand_over(ad_sha512_worker *worker, size_t size, int last) {
    pthread_mutex_lock(&worker->mutex);
    int slot = (worker->head + worker->full) % SLOTS;
    worker->sizes[slot] = size;
    worker->full++;
    if (last) worker->done = 1;
    pthread_cond_broadcast(&worker->changed);
    while (!last && worker->full == SLOTS) pthread_cond_wait(&worker->changed, &worker->mutex);
    pthread_mutex_unlock(&worker->mutex);
}

void ad_sha512_worker_update(ad_sha512_worker *worker, const uint8_t *data, size_t count) {
    worker->total += count;
    if (!worker->threaded) {
        // Hash in the caller: whole blocks at once, a partial block kept in slot 0.
        while (count > 0) {
            size_t take = 128 - worker->fill < count ? 128 - worker->fill : count;
            if (worker->fill == 0 && count >= 128) {
                size_t blocks = count / 128;
                ad_sha512_blocks(worker->state, data, blocks);
                data += blocks * 128;
                count -= blocks * 128;
                continue;
            }
            memcpy(worker->slots[0] + worker->fill, data, take);
            worker->fill += take;
            data += take;
            count -= take;
            if (worker->fill == 128) {
                ad_sha512_blocks(worker->state, worker->slots[0], 1);
                worker->fill = 0;
            }
        }
        return;
    }
    while (count > 0) {
        pthread_mutex_lock(&worker->mutex);
        int slot = (worker->head + worker->full) % SLOTS;
        pthread_mutex_unlock(&worker->mutex);
        size_t take = SLOT_SIZE - worker->fill < count ? SLOT_SIZE - worker->fill : count;
        memcpy(worker->slots[slot] + worker->fill, data, take);
        worker->fill += take;
        data += take;
        count -= take;
        if (worker->fill == SLOT_SIZE) {
            hand_over(worker, SLOT_SIZE, 0);
            worker->fill = 0;
        }
    }
}

void ad_sha512_worker_finish(ad_sha512_worker *worker, uint8_t digest[64]) {
    const uint8_t *tail;
    size_t tail_size;
    if (worker->threaded) {
        pthread_mutex_lock(&worker->mutex);
        int slot = (worker->head + worker->full) % SLOTS;
        pthread_mutex_unlock(&worker->mutex);
        // The last slot (possibly empty) ends the thread; the state then covers its whole blocks.
        size_t size = worker->fill;
        hand_over(worker, size, 1);
        pthread_join(worker->thread, NULL);
        worker->joined = 1;
        tail = worker->slots[slot] + size - size % 128;
        tail_size = size % 128;
    } else {
        tail = worker->slots[0];
        tail_size = worker->fill;
    }
    uint8_t block[256] = {0};
    memcpy(block, tail, tail_size);
    block[tail_size] = 0x80;
    size_t length = tail_size + 1 + 16 <= 128 ? 128 : 256;
    uint64_t bits = worker->total * 8;
    for (int i = 0; i < 8; i++) block[length - 1 - i] = (uint8_t)(bits >> (8 * i));
    ad_sha512_blocks(worker->state, block, length / 128);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) digest[8 * i + j] = (uint8_t)(worker->state[i] >> (56 - 8 * j));
    ad_sha512_worker_free(worker);
}

void ad_sha512_worker_free(ad_sha512_worker *worker) {
    if (!worker) return;
    if (worker->threaded && !worker->joined) {
        pthread_mutex_lock(&worker->mutex);
        worker->done = 1;
        pthread_cond_broadcast(&worker->changed);
        pthread_mutex_unlock(&worker->mutex);
        pthread_join(worker->thread, NULL);
    }
    pthread_mutex_destroy(&worker->mutex);
    pthread_cond_destroy(&worker->changed);
    for (int i = 0; i < SLOTS; i++) free(worker->slots[i]);
    free(worker);
}
