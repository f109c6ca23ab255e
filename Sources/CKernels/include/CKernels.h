// Vectorised loops (synchronised batch norm's per-channel passes, the optimizers' updates), compiled for AVX-512, AVX2 and baseline x86-64 and
// chosen once when the program loads (the Swift code is compiled for baseline x86-64 only, whose SSE2 does two
// doubles at a time). Tensors are NHWC in the plain layout or the 16-channel blocked one, described as groups of
// runs: `block` consecutive elements with consecutive channels starting at channel (group % cycle) * block; see
// Tensors' ChannelPattern.
#ifndef CKERNELS_H
#define CKERNELS_H

// `mask` (may be NULL) makes a ReLU's backward part of a pass: a masked value a[i] counts where mask[i] > 0 (the
// ReLU's output) and is 0 elsewhere, exactly as the ReLU's own backward would have made it.

// For every element i of groups [begin, end): first[c] += a[i], second[c] += a[i] * b[i] in double (c: i's channel),
// a masked by `mask`.
void ck_channel_sums(const float *a, const float *b, const float *mask, long begin, long end, long runs, long block,
                     long cycle, double *first, double *second);

// out[i] = scale[c] * dy[i] + x_scale[c] * (x[i] - center[c]) + offset[c] for every element i of groups [begin, end),
// dy masked by `mask`.
void ck_channelwise_combination(const float *dy, const float *x, const float *mask, float *out, long begin, long end,
                                long runs, long block, long cycle, const float *scale, const float *x_scale,
                                const float *center, const float *offset);

// Keras Adam on n values: m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); w -= step_size * m / (sqrt(v) + epsilon).
void ck_adam_update(float *w, float *m, float *v, const float *g, long n, float step_size, float beta1, float beta2,
                    float epsilon);

// Keras SGD with momentum on n values: velocity = momentum * velocity - lr * g; w += velocity, or with Nesterov
// w += momentum * velocity - lr * g.
void ck_sgd_update(float *w, float *velocity, const float *g, long n, float learning_rate, float momentum, int nesterov);

#include "tensor_memory.h"

#endif
