#define _GNU_SOURCE  // mremap
#include "tensor_memory.h"
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

// A block spans at most `max_pieces` mappings; one of more than `kept_pieces` goes back to the system when freed, so
// the process never nears the system's limit on mappings (65530 by default; measured: under 700 in all).
enum { pooled_bytes = 1 << 20, page = 4096, max_pieces = 64, kept_pieces = 32 };

// Each pooled block is mapped with one page in front of the memory it serves: its header, with the block's size, the
// mappings its pages lie in (a block assembled from other blocks' pages spans several, and mremap moves pages only
// within one) and, while it is kept, its links into the list of kept blocks of its size (most recently freed first)
// and into the list of all kept blocks by age (freed longest ago first), with the trim period it was freed in.
struct free_block {
    long bytes;  // after the header page
    long pieces;
    long piece_bytes[max_pieces];  // in address order, the header page included; they add up to page + bytes
    struct free_block *newer_of_size, *older_of_size;
    struct free_block *newer, *older;
    long list;  // index in `lists`
    unsigned long period;
};
_Static_assert(sizeof(struct free_block) <= page, "a block's header fits its first page");

struct size_list {
    long bytes;
    struct free_block *newest;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
// One list per size kept blocks have: the classes below, and the remainders of blocks that gave some pages away.
static struct size_list *lists = NULL;
static long list_count = 0, list_capacity = 0;
static struct free_block *oldest = NULL, *newest = NULL;
static unsigned long period = 0;
static long live = 0, peak = 0, cached = 0;
// Bytes of every pooled block, serving a tensor or kept, headers included.
static long mapped = 0;

// The size of the blocks that serve `bytes`: eight classes per doubling (at 1 MiB and more their steps are whole
// pages), so that tensors of nearby sizes share blocks (a DenseNet's concatenations grow by 32 channels a layer)
// for at most an eighth more memory each.
static long block_size(long bytes) {
    long step = page;
    while (step * 16 <= bytes) step *= 2;  // bytes / 16 < step <= bytes / 8
    return (bytes + step - 1) / step * step;
}

// The list of kept blocks of `bytes`; a list left empty serves a new size.
static struct size_list *list_for(long bytes) {
    struct size_list *empty = NULL;
    for (long i = 0; i < list_count; i++) {
        if (lists[i].bytes == bytes) return &lists[i];
        if (!lists[i].newest && !empty) empty = &lists[i];
    }
    if (empty) {
        empty->bytes = bytes;
        return empty;
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
    block->newer_of_size = NULL;
    block->older_of_size = list->newest;
    block->newer = NULL;
    block->older = newest;
    block->list = list - lists;
    block->period = period;
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

// Gives a block (not kept) back to the system, across all its mappings.
static void unmap_block(struct free_block *block) {
    mapped -= page + block->bytes;
    munmap(block, (size_t)(page + block->bytes));
}

static void release(struct free_block *block) {
    take(block);
    unmap_block(block);
}

// Keeps `block` (taken, or just freed) for reuse, or gives it back when no list can be made for its size.
static void keep_or_release(struct free_block *block) {
    struct size_list *list = list_for(block->bytes);
    if (list) keep(block, list);
    else unmap_block(block);
}

// A kept block for `size`: the newest of its class, or else of the smallest class up to a quarter larger that has one
// (a larger block would hold memory it does not use; other sizes give their pages instead, see `choose_donors`).
static struct free_block *kept_block_for(long size) {
    struct size_list *best = NULL;
    for (long i = 0; i < list_count; i++) {
        struct size_list *list = &lists[i];
        if (!list->newest || list->bytes < size || 4 * list->bytes > 5 * size) continue;
        if (!best || list->bytes < best->bytes) best = list;
        if (list->bytes == size) break;
    }
    return best ? best->newest : NULL;
}

// The mappings the last `bytes` of `block` lie in.
static long tail_pieces(const struct free_block *block, long bytes) {
    long count = 0;
    for (long i = block->pieces - 1; bytes > 0; i--, count++) bytes -= block->piece_bytes[i];
    return count;
}

// Kept blocks whose pages a new block of `*size` bytes takes: the smallest kept block large enough, else those freed
// longest ago, within `max_pieces` mappings (one left for fresh pages). Each is given whole, but for the last, which
// may give only its last `*tail` bytes (0: whole) and stay kept with the rest; a rest under the pooled size is given
// too, making `*size` larger. Sizes keep changing within a step where a graph frees activations early (a DenseNet
// recomputing its concatenations makes and frees each a little larger than the last), so without this the pool
// would map and fault in new pages every step, or keep blocks of every size. Taken from the lists; under the lock.
static long choose_donors(long *size, struct free_block **donors, long *tail) {
    static long system_page = 0;
    if (!system_page) system_page = sysconf(_SC_PAGESIZE);
    if (system_page != page) return 0;  // mremap moves whole system pages: headers and pieces would not line up
    long need = page + *size, pieces = 0, count = 0;
    *tail = 0;
    struct size_list *fit = NULL;
    for (long i = 0; i < list_count; i++) {
        if (lists[i].newest && page + lists[i].bytes >= need && (!fit || lists[i].bytes < fit->bytes)) fit = &lists[i];
    }
    for (struct free_block *donor = fit ? fit->newest : oldest, *next; donor && need > 0; donor = next) {
        next = donor->newer;
        long whole = page + donor->bytes;
        int all = whole <= need || whole - need < page + pooled_bytes;
        long giving = all ? donor->pieces : tail_pieces(donor, need);
        if (pieces + giving > max_pieces - 1) break;
        take(donor);
        donors[count++] = donor;
        pieces += giving;
        if (!all) {
            *tail = need;
            need = 0;
        } else if (whole > need) {
            *size += whole - need;
            need = 0;
        } else {
            need -= whole;
        }
    }
    return count;
}

// Moves the last `bytes` of `donor` (all of it when `bytes` is its whole mapped size) to `destination`, one mremap per
// mapping, noting each moved piece in `block`, and leaves the donor its first pieces. Returns the bytes moved: short
// of `bytes` only if mremap failed, when `*failed` is the length of the move that failed and what the donor had left
// to give is unmapped.
static long move_tail(struct free_block *donor, long bytes, char *destination, struct free_block *block, long *failed) {
    long pieces = donor->pieces, piece_bytes[max_pieces];
    for (long i = 0; i < pieces; i++) piece_bytes[i] = donor->piece_bytes[i];  // the header may move with them
    long end = page + donor->bytes, start = end - bytes, at = 0, moved = 0;
    if (start > 0) {  // the donor keeps its pieces up to `start`
        donor->bytes -= bytes;
        donor->pieces = 0;
        for (long i = 0, from = 0; from < start; from += piece_bytes[i], i++) {
            donor->piece_bytes[donor->pieces++] = (from + piece_bytes[i] < start ? from + piece_bytes[i] : start) - from;
        }
    }
    for (long i = 0; i < pieces; at += piece_bytes[i], i++) {
        long from = at > start ? at : start, to = at + piece_bytes[i];
        if (to <= start) continue;
        if (mremap((char *)donor + from, (size_t)(to - from), (size_t)(to - from), MREMAP_MAYMOVE | MREMAP_FIXED,
                   destination + moved) == MAP_FAILED) {
            munmap((char *)donor + from, (size_t)(end - from));
            *failed = to - from;
            return moved;
        }
        block->piece_bytes[block->pieces++] = to - from;
        moved += to - from;
    }
    return moved;
}

// A new block of `size` (its header page included) made of the pages of `donors` (the last giving only its last
// `tail` bytes when `tail` > 0, and kept again with the rest) and, past them, fresh pages. Reused pages cost no page
// faults: mremap moves them. NULL, with the donors not yet used kept again, when the system has no memory left.
static struct free_block *assembled_block(long size, struct free_block **donors, long count, long tail) {
    const long total = page + size;
    char *memory = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    long given = 0, moved = 0, failed = 0, kept_from = memory == MAP_FAILED ? 0 : count;
    struct free_block pieces = {.pieces = 0};
    for (long i = 0; i < kept_from; i++) {
        long giving = i == count - 1 && tail > 0 ? tail : page + donors[i]->bytes;
        long done = move_tail(donors[i], giving, memory + moved, &pieces, &failed);
        given += giving;
        moved += done;
        if (failed) {
            kept_from = i + 1;
            if (tail > 0 && i == count - 1) kept_from = i;  // its first pieces
        }
    }
    if (failed) {
        // mremap may have unmapped its destination before failing, and another thread may map there: give back
        // only what is still this block's, around that range, and start again with fresh pages.
        if (moved > 0) munmap(memory, (size_t)moved);
        if (moved + failed < total) munmap(memory + moved + failed, (size_t)(total - moved - failed));
        memory = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        moved = 0;
        pieces.pieces = 0;
    }
    if (memory != MAP_FAILED && moved < total) pieces.piece_bytes[pieces.pieces++] = total - moved;
    pthread_mutex_lock(&lock);
    mapped += (memory != MAP_FAILED ? total : 0) - given;
    if (tail > 0 && kept_from == count && !failed && memory != MAP_FAILED) kept_from = count - 1;  // its first pieces
    for (long i = kept_from; i < count; i++) keep_or_release(donors[i]);
    pthread_mutex_unlock(&lock);
    if (memory == MAP_FAILED) return NULL;
    struct free_block *block = (struct free_block *)memory;
    block->bytes = size;
    block->pieces = pieces.pieces;
    for (long i = 0; i < pieces.pieces; i++) block->piece_bytes[i] = pieces.piece_bytes[i];
    return block;
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
    long size = block_size(bytes), count = 0, tail = 0;
    struct free_block *donors[max_pieces];
    pthread_mutex_lock(&lock);
    struct free_block *reused = kept_block_for(size);
    if (reused) take(reused);
    else count = choose_donors(&size, donors, &tail);
    count_allocation(bytes);
    pthread_mutex_unlock(&lock);
    if (reused) return (char *)reused + page;
    struct free_block *block = assembled_block(size, donors, count, tail);
    if (block) return (char *)block + page;
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
    struct free_block *header = (struct free_block *)((char *)block - page);
    pthread_mutex_lock(&lock);
    live -= bytes;
    if (header->pieces > kept_pieces) unmap_block(header);
    else keep_or_release(header);
    pthread_mutex_unlock(&lock);
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

long ck_tensor_memory_mapped(void) { return read_locked(&mapped); }

long ck_tensor_memory_mappings(const void *block, long bytes, long *lengths, long capacity) {
    if (bytes < pooled_bytes) return 0;
    const struct free_block *header = (const struct free_block *)((const char *)block - page);
    for (long i = 0; i < header->pieces && i < capacity; i++) lengths[i] = header->piece_bytes[i];
    return header->pieces;
}

void ck_tensor_memory_reset_peak(void) {
    pthread_mutex_lock(&lock);
    peak = live;
    pthread_mutex_unlock(&lock);
}

