#ifndef CSUPPORT_PNG_CODEC_H
#define CSUPPORT_PNG_CODEC_H

#include <stddef.h>
#include <stdint.h>

// PNG decoding to 8-bit RGB exactly as TensorFlow's decode_png(channels=3): palettes expand to their RGB
// entries, gray replicates into R, G and B, alpha (and tRNS) is dropped, 16-bit keeps the high byte,
// Adam7 is de-interlaced. libpng reports errors by longjmp, which Swift cannot survive, so the whole read
// runs here and errors come back as text.

// Decodes `size` bytes of PNG data. On success returns 0 and sets *pixels (row-major HWC RGB, free it with
// csupport_png_free), *width and *height. Images with more than `max_pixels` pixels are refused before any
// pixel memory is allocated. On failure returns -1, *pixels is NULL and `message` holds libpng's reason.
int csupport_png_decode_rgb8(const uint8_t *data, size_t size, size_t max_pixels,
                             uint8_t **pixels, uint32_t *width, uint32_t *height,
                             char *message, size_t message_capacity);

void csupport_png_free(uint8_t *pixels);

// Encodes 8-bit RGB pixels (row-major HWC) as a PNG. On success returns 0 and sets *png and *png_size
// (free with csupport_png_free). On failure returns -1 and `message` holds the reason.
int csupport_png_encode_rgb8(const uint8_t *pixels, uint32_t width, uint32_t height,
                             uint8_t **png, size_t *png_size, char *message, size_t message_capacity);

#endif
