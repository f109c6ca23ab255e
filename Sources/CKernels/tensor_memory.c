#include "tensor_memory.h"
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

enum { pooled_bytes = 1 << 20, page = 4096 };

// Each pooled block is mapped with one page in front of the memory it serves: its header, with the block's size and,
// while it is kept, its links into the list of kept blocks of its size (most recently freed first) and into the list
// of all kept blocks by age (freed longest ago first), with the trim period it was freed in.
struct free_block {
    long bytes;  // after the header page
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
// Bytes of the blocks serving tensors (a tensor may have a block of a larger class; below 1 MiB, its malloc'ed
// bytes), and their high-water mark.
static long held = 0, held_peak = 0;

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
    *block = (struct free_block){list->bytes, NULL, list->newest, NULL, newest, list - lists, period};
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
    munmap(block, (size_t)(page + bytes));
}

// A kept block for `size`: the newest of its class, or else of the smallest class up to twice its size that has one.
// Sizes keep changing within a step where a graph frees activations early (a DenseNet recomputing its
// concatenations makes and frees each a little larger than the last), and blocks of one class only would then be
// mapped and faulted in anew each step.
static struct free_block *kept_block_for(long size) {
    struct size_list *best = NULL;
    for (long i = 0; i < list_count; i++) {
        struct size_list *list = &lists[i];
        if (!list->newest || list->bytes < size || list->bytes > 2 * size) continue;
        if (!best || list->bytes < best->bytes) best = list;
        if (list->bytes == size) break;
    }
    return best ? best->newest : NULL;
}

// Keeps what the pool holds (blocks serving tensors plus kept blocks) within half again the most that blocks serving
// tensors have held at once: before mapping a new block of `bytes`, unmaps kept blocks, those freed longest ago first.
// It stops a process whose sizes keep changing from keeping ever more. A training step stays within it (measured at
// 224x224, batch 16: ResNet50 held 2.0 GiB for 1.6 GiB of tensors, DenseNet201 3.8 for 3.3, and 1.7 for 1.0 when
// recomputing activations); a tighter bound costs speed, mapping and faulting in blocks every step (at an eighth
// above, DenseNet201 ran about 10% slower).
static void release_for(long bytes) {
    long budget = held_peak + held_peak / 2;
    while (oldest && held + cached + bytes > budget) release(oldest);
}

static void count_allocation(long bytes, long block_bytes) {
    live += bytes;
    if (live > peak) peak = live;
    held += block_bytes;
    if (held > held_peak) held_peak = held;
}

void *ck_tensor_memory_allocate(long bytes) {
    if (bytes < pooled_bytes) {
        void *block = NULL;
        if (posix_memalign(&block, 64, (size_t)bytes) != 0) return NULL;
        pthread_mutex_lock(&lock);
        count_allocation(bytes, bytes);
        pthread_mutex_unlock(&lock);
        return block;
    }
    long size = block_size(bytes);
    pthread_mutex_lock(&lock);
    struct free_block *reused = kept_block_for(size);
    if (reused) take(reused);
    else release_for(size);
    count_allocation(bytes, reused ? reused->bytes : size);
    pthread_mutex_unlock(&lock);
    if (reused) return (char *)reused + page;
    struct free_block *block = mmap(NULL, (size_t)(page + size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block != MAP_FAILED) {
        block->bytes = size;
        return (char *)block + page;
    }
    pthread_mutex_lock(&lock);
    live -= bytes;
    held -= size;
    pthread_mutex_unlock(&lock);
    return NULL;
}

void ck_tensor_memory_free(void *block, long bytes) {
    if (bytes < pooled_bytes) {
        free(block);
        pthread_mutex_lock(&lock);
        live -= bytes;
        held -= bytes;
        pthread_mutex_unlock(&lock);
        return;
    }
    struct free_block *header = (struct free_block *)((char *)block - page);
    long size = header->bytes;
    pthread_mutex_lock(&lock);
    live -= bytes;
    held -= size;
    struct size_list *list = list_for(size);
    if (list) keep(header, list);
    pthread_mutex_unlock(&lock);
    if (!list) munmap(header, (size_t)(page + size));
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
    held_peak = held;
    pthread_mutex_unlock(&lock);
}
