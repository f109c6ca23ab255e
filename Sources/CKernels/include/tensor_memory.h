// Memory for tensors. Blocks of at least 1 MiB come from a pool of mapped pages in size classes (eight per
// doubling): freed blocks are kept for the next request of their class (or, when none of its class is kept, for a
// request of at least four fifths their size), since a training step asks for the same sizes in the same order every
// step (reused pages cost no page faults, and nothing fragments as glibc's heap did, growing the process step after
// step). A request no kept block serves takes the pages of kept blocks of other sizes (the tail of the smallest one
// large enough, else those freed longest ago), which mremap moves without page faults, before asking the system for
// more: the pool holds little more than the most its tensors have needed at once. A block left unused for a whole
// period between two ck_tensor_memory_trim calls goes back to the system. Smaller blocks come from malloc. Every
// block is 64-byte aligned. The pool counts the bytes in use (and their high-water mark), the bytes it keeps and the
// bytes it has mapped; all functions are thread-safe (data loader threads make tensors).
#ifndef TENSOR_MEMORY_H
#define TENSOR_MEMORY_H

// NULL when the system has no memory left.
void *ck_tensor_memory_allocate(long bytes);
// `bytes` as given to ck_tensor_memory_allocate.
void ck_tensor_memory_free(void *block, long bytes);
// Returns the blocks unused since the previous call to the system.
void ck_tensor_memory_trim(void);

long ck_tensor_memory_live(void);
long ck_tensor_memory_peak(void);
long ck_tensor_memory_cached(void);
// Bytes of every pooled block, serving a tensor or kept (their header pages included).
long ck_tensor_memory_mapped(void);
// The lengths of the mappings the pages of a block in use lie in, its header page first, in address order (at most
// `capacity` of them written); returns how many there are, 0 for a block under the pooled size. For tests.
long ck_tensor_memory_mappings(const void *block, long bytes, long *lengths, long capacity);
// Starts a new high-water mark at the bytes in use now.
void ck_tensor_memory_reset_peak(void);

#endif
