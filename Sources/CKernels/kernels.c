#include "CKernels.h"

// No fused multiply-adds: every clone rounds like the baseline one, so results do not depend on the CPU's vector
// width (products of floats are exact in double, so the sums would agree anyway).
#pragma clang fp contract(off)

#define CLONES __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))

// a[i], or with `masking` a[i] * 0 where mask[i] is not positive: oneDNN's ReLU backward exactly (-0 for a negative
// a[i], NaN for an infinite one). Each kernel inlines its loops once with masking and once without (a constant in each
// copy), so that both vectorise.
#define MASKED(a, mask, i, masking) ((masking) ? ((mask)[i] > 0 ? (a)[i] : (a)[i] * 0.0f) : (a)[i])

static inline __attribute__((always_inline)) void channel_sums(const float *restrict a, const float *restrict b,
                                                               const float *restrict mask, const int masking, long begin,
                                                               long end, long runs, long block, long cycle,
                                                               double *restrict first, double *restrict second) {
    if (block == 16) {
        // Blocked: a group is 16 channels at `runs` positions; the sums stay in registers over the group.
        for (long group = begin; group < end; group++) {
            const long channel = (group % cycle) * 16, base = group * runs * 16;
            double sum[16] = {0}, product[16] = {0};
            for (long run = 0; run < runs; run++) {
                const long start = base + run * 16;
                for (int lane = 0; lane < 16; lane++) {
                    const double value = MASKED(a, mask, start + lane, masking);
                    sum[lane] += value;
                    product[lane] += value * (double)b[start + lane];
                }
            }
            for (int lane = 0; lane < 16; lane++) {
                first[channel + lane] += sum[lane];
                second[channel + lane] += product[lane];
            }
        }
        return;
    }
    for (long group = begin; group < end; group++) {
        const long channel = (group % cycle) * block;
        for (long run = 0; run < runs; run++) {
            const long start = (group * runs + run) * block;
            for (long lane = 0; lane < block; lane++) {
                const double value = MASKED(a, mask, start + lane, masking);
                first[channel + lane] += value;
                second[channel + lane] += value * (double)b[start + lane];
            }
        }
    }
}

CLONES
void ck_channel_sums(const float *restrict a, const float *restrict b, const float *restrict mask, long begin, long end,
                     long runs, long block, long cycle, double *restrict first, double *restrict second) {
    if (mask) {
        channel_sums(a, b, mask, 1, begin, end, runs, block, cycle, first, second);
    } else {
        channel_sums(a, b, mask, 0, begin, end, runs, block, cycle, first, second);
    }
}

static inline __attribute__((always_inline)) void channelwise_combination(
    const float *restrict dy, const float *restrict x, const float *restrict mask, const int masking, float *restrict out,
    long begin, long end, long runs, long block, long cycle, const float *restrict scale, const float *restrict x_scale,
    const float *restrict center, const float *restrict offset) {
    for (long group = begin; group < end; group++) {
        const long channel = (group % cycle) * block;
        const float *a = scale + channel, *b = x_scale + channel, *m = center + channel, *o = offset + channel;
        for (long run = 0; run < runs; run++) {
            const long start = (group * runs + run) * block;
            for (long lane = 0; lane < block; lane++) {
                out[start + lane] = a[lane] * MASKED(dy, mask, start + lane, masking) + b[lane] * (x[start + lane] - m[lane]) + o[lane];
            }
        }
    }
}

CLONES
void ck_channelwise_combination(const float *restrict dy, const float *restrict x, const float *restrict mask,
                                float *restrict out, long begin, long end, long runs, long block, long cycle,
                                const float *restrict scale, const float *restrict x_scale, const float *restrict center,
                                const float *restrict offset) {
    if (mask) {
        channelwise_combination(dy, x, mask, 1, out, begin, end, runs, block, cycle, scale, x_scale, center, offset);
    } else {
        channelwise_combination(dy, x, mask, 0, out, begin, end, runs, block, cycle, scale, x_scale, center, offset);
    }
}

CLONES
void ck_adam_update(float *restrict w, float *restrict m, float *restrict v, const float *restrict g, long n,
                    float step_size, float beta1, float beta2, float epsilon) {
    const float keep1 = 1 - beta1, keep2 = 1 - beta2;
    for (long i = 0; i < n; i++) {
        m[i] += (g[i] - m[i]) * keep1;
        v[i] += (g[i] * g[i] - v[i]) * keep2;
        w[i] -= step_size * m[i] / (__builtin_sqrtf(v[i]) + epsilon);
    }
}

CLONES
void ck_sgd_update(float *restrict w, float *restrict velocity, const float *restrict g, long n, float learning_rate,
                   float momentum, int nesterov) {
    for (long i = 0; i < n; i++) {
        velocity[i] = momentum * velocity[i] - learning_rate * g[i];
        w[i] += nesterov ? momentum * velocity[i] - learning_rate * g[i] : velocity[i];
    }
}
