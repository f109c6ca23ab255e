#include "tensor_memory.h"
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

enum { pooled_bytes = 1 << 20, page = 4096 };

// A kept block holds its own links: into the list of kept blocks of its size (most recently freed first) and into
// the list of all kept blocks by age (freed longest ago first), with the trim period it was freed in.
struct free_block {
    struct free_block *newer_of_size, *older_of_size;
    struct free_block *newer, *older;
    long list;  // index in `lists`
    unsigned long period;
};

struct size_list {
    long bytes;
    struct free_block *newest;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
// Eight size classes per doubling from 1 MiB: about 8 x 40 lists reach any size a process can map.
static struct size_list *lists = NULL;
static long list_count = 0, list_capacity = 0;
static struct free_block *oldest = NULL, *newest = NULL;
static unsigned long period = 0;
static long live = 0, peak = 0, cached = 0;

// The size of the blocks that serve `bytes`: eight classes per doubling (at 1 MiB and more their steps are whole
// pages), so that tensors of nearby sizes share blocks (a DenseNet's concatenations grow by 32 channels a layer)
// for at most an eighth more memory each.
static long block_size(long bytes) {
    long step = page;
    while (step * 16 <= bytes) step *= 2;  // bytes / 16 < step <= bytes / 8
    return (bytes + step - 1) / step * step;
}

static struct size_list *list_for(long bytes) {
    for (long i = 0; i < list_count; i++) {
        if (lists[i].bytes == bytes) return &lists[i];
    }
    if (list_count == list_capacity) {
        long capacity = list_capacity ? 2 * list_capacity : 64;
        struct size_list *grown = realloc(lists, (size_t)capacity * sizeof *lists);
        if (!grown) return NULL;
        lists = grown;
        list_capacity = capacity;
    }
    lists[list_count] = (struct size_list){bytes, NULL};
    return &lists[list_count++];
}

static void keep(struct free_block *block, struct size_list *list) {
    *block = (struct free_block){NULL, list->newest, NULL, newest, list - lists, period};
    if (list->newest) list->newest->newer_of_size = block;
    list->newest = block;
    if (newest) newest->newer = block;
    else oldest = block;
    newest = block;
    cached += list->bytes;
}

static void take(struct free_block *block) {
    struct size_list *list = &lists[block->list];
    if (block->newer_of_size) block->newer_of_size->older_of_size = block->older_of_size;
    else list->newest = block->older_of_size;
    if (block->older_of_size) block->older_of_size->newer_of_size = block->newer_of_size;
    if (block->newer) block->newer->older = block->older;
    else newest = block->older;
    if (block->older) block->older->newer = block->newer;
    else oldest = block->newer;
    cached -= list->bytes;
}

static void release(struct free_block *block) {
    long bytes = lists[block->list].bytes;
    take(block);
    munmap(block, (size_t)bytes);
}

// Keeps what the pool holds (tensors plus kept blocks) within half again the most tensors have held at once: before
// mapping a new block of `bytes`, unmaps kept blocks, those freed longest ago first. A training step stays below
// that bound (measured: ResNet50 holds 1.25 times its tensors' peak, DenseNet201 about 1.4 times, as a step's backward
// uses other sizes than its forward); it stops a process whose sizes keep changing from keeping ever more. A
// tighter bound would cost speed, mapping and faulting in blocks every step: at an eighth above, ResNet50 held
// 1.9 GiB instead of 2.1 at about 5% less speed, DenseNet201 3.9 GiB instead of 4.7 at about 10% less (one noisy
// run each, README).
static void release_for(long bytes) {
    long budget = peak + peak / 2;
    while (oldest && live + cached + bytes > budget) release(oldest);
}

static void count_allocation(long bytes) {
    live += bytes;
    if (live > peak) peak = live;
}

void *ck_tensor_memory_allocate(long bytes) {
    if (bytes < pooled_bytes) {
        void *block = NULL;
        if (posix_memalign(&block, 64, (size_t)bytes) != 0) return NULL;
        pthread_mutex_lock(&lock);
        count_allocation(bytes);
        pthread_mutex_unlock(&lock);
        return block;
    }
    long size = block_size(bytes);
    pthread_mutex_lock(&lock);
    struct size_list *list = list_for(size);
    struct free_block *reused = list ? list->newest : NULL;
    if (reused) take(reused);
    else release_for(size);
    count_allocation(bytes);
    pthread_mutex_unlock(&lock);
    if (reused) return reused;
    void *block = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block != MAP_FAILED) return block;
    pthread_mutex_lock(&lock);
    live -= bytes;
    pthread_mutex_unlock(&lock);
    return NULL;
}

void ck_tensor_memory_free(void *block, long bytes) {
    if (bytes < pooled_bytes) {
        free(block);
        pthread_mutex_lock(&lock);
        live -= bytes;
        pthread_mutex_unlock(&lock);
        return;
    }
    long size = block_size(bytes);
    pthread_mutex_lock(&lock);
    live -= bytes;
    struct size_list *list = list_for(size);
    if (list) keep(block, list);
    pthread_mutex_unlock(&lock);
    if (!list) munmap(block, (size_t)size);
}

void ck_tensor_memory_trim(void) {
    pthread_mutex_lock(&lock);
    // By age is by period too: the blocks kept since before this period are the oldest ones.
    while (oldest && oldest->period < period) release(oldest);
    period++;
    pthread_mutex_unlock(&lock);
}

static long read_locked(const long *counter) {
    pthread_mutex_lock(&lock);
    long value = *counter;
    pthread_mutex_unlock(&lock);
    return value;
}

long ck_tensor_memory_live(void) { return read_locked(&live); }

long ck_tensor_memory_peak(void) { return read_locked(&peak); }

long ck_tensor_memory_cached(void) { return read_locked(&cached); }

void ck_tensor_memory_reset_peak(void) {
    pthread_mutex_lock(&lock);
    peak = live;
    pthread_mutex_unlock(&lock);
}
