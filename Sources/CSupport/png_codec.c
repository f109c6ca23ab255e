#include "png_codec.h"
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Everything the error path must reach lives here, not in locals, so nothing depends on locals
// surviving longjmp.
typedef struct {
    const uint8_t *data;
    size_t size, offset;
    char *message;
    size_t message_capacity;
    uint8_t *pixels;
    png_bytep *rows;
    jmp_buf on_error;
} decode_context;

static void copy_message(char *buffer, size_t capacity, const char *text) {
    if (capacity == 0) return;
    snprintf(buffer, capacity, "%s", text);
}

static void on_png_error(png_structp png, png_const_charp text) {
    decode_context *context = png_get_error_ptr(png);
    copy_message(context->message, context->message_capacity, text);
    longjmp(context->on_error, 1);
}

// Warnings (e.g. unknown ancillary chunks) do not stop TensorFlow either.
static void on_png_warning(png_structp png, png_const_charp text) { (void)png; (void)text; }

static void read_from_memory(png_structp png, png_bytep out, size_t length) {
    decode_context *context = png_get_io_ptr(png);
    if (length > context->size - context->offset) png_error(png, "unexpected end of PNG data (file truncated?)");
    memcpy(out, context->data + context->offset, length);
    context->offset += length;
}

int csupport_png_decode_rgb8(const uint8_t *data, size_t size, size_t max_pixels,
                             uint8_t **pixels, uint32_t *width, uint32_t *height,
                             char *message, size_t message_capacity) {
    *pixels = NULL;
    *width = *height = 0;
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        copy_message(message, message_capacity, size == 0 ? "empty file" : "not a PNG file (bad signature)");
        return -1;
    }
    decode_context context = {.data = data, .size = size, .message = message,
                              .message_capacity = message_capacity};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &context, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        copy_message(message, message_capacity, "out of memory creating the PNG reader");
        png_destroy_read_struct(&png, NULL, NULL);
        return -1;
    }
    if (setjmp(context.on_error)) {
        png_destroy_read_struct(&png, &info, NULL);
        free(context.rows);
        free(context.pixels);
        return -1;
    }
    png_set_read_fn(png, &context, read_from_memory);
    png_read_info(png, info);

    png_uint_32 image_width = png_get_image_width(png, info), image_height = png_get_image_height(png, info);
    if ((uint64_t)image_width * image_height > max_pixels) {
        char text[160];
        snprintf(text, sizeof text, "image of %ux%u pixels exceeds the limit of %zu pixels",
                 (unsigned)image_width, (unsigned)image_height, max_pixels);
        png_error(png, text);
    }
    // The same transformations, in the same order, as TensorFlow's png_io.cc for 3 channels of 8 bits.
    int color_type = png_get_color_type(png, info), bit_depth = png_get_bit_depth(png, info);
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (!(color_type & PNG_COLOR_MASK_COLOR)) {
        if (bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
        png_set_gray_to_rgb(png);
    }
    // Palette expansion also turns tRNS into alpha; TensorFlow's 3-channel output drops it like real alpha.
    if ((color_type & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
    if (bit_depth > 8) png_set_strip_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 ||
        png_get_rowbytes(png, info) != (size_t)image_width * 3) {
        png_error(png, "unsupported PNG layout after conversion to 8-bit RGB");
    }

    size_t row_bytes = (size_t)image_width * 3;
    context.pixels = malloc(row_bytes * image_height);
    context.rows = malloc(sizeof(png_bytep) * image_height);
    if (!context.pixels || !context.rows) png_error(png, "out of memory for the decoded pixels");
    for (png_uint_32 row = 0; row < image_height; row++) context.rows[row] = context.pixels + row * row_bytes;
    png_read_image(png, context.rows);
    // Like TensorFlow, read through IEND: a file cut short after its image data is damaged, not complete.
    png_read_end(png, NULL);

    png_destroy_read_struct(&png, &info, NULL);
    free(context.rows);
    *pixels = context.pixels;
    *width = image_width;
    *height = image_height;
    return 0;
}

void csupport_png_free(uint8_t *pixels) { free(pixels); }

int csupport_png_encode_rgb8(const uint8_t *pixels, uint32_t width, uint32_t height,
                             uint8_t **png, size_t *png_size, char *message, size_t message_capacity) {
    *png = NULL;
    *png_size = 0;
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = width;
    image.height = height;
    image.format = PNG_FORMAT_RGB;
    size_t size = 0;
    // The first call measures, the second writes.
    if (!png_image_write_to_memory(&image, NULL, &size, 0, pixels, 0, NULL)) {
        copy_message(message, message_capacity, image.message);
        png_image_free(&image);
        return -1;
    }
    uint8_t *buffer = malloc(size);
    if (!buffer) {
        copy_message(message, message_capacity, "out of memory for the encoded PNG");
        return -1;
    }
    if (!png_image_write_to_memory(&image, buffer, &size, 0, pixels, 0, NULL)) {
        copy_message(message, message_capacity, image.message);
        png_image_free(&image);
        free(buffer);
        return -1;
    }
    *png = buffer;
    *png_size = size;
    return 0;
}
