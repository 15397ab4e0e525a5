/* A C99 program using libsegface the way an app would: load a model (from a file and from
 * memory), parse an RGBA image with padded rows into a strided label buffer, and exercise the
 * error paths. Usage: parse_image MODEL.onnx IMAGE.rgb WIDTH HEIGHT OUT.labels
 * IMAGE.rgb is packed RGB8; OUT.labels receives WIDTH*HEIGHT class indices. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segface.h"
#include "test_util.h"

int main(int argc, char **argv) {
    SegfaceModel *model = NULL, *from_memory = NULL, *bad = NULL, *f16 = NULL;
    SegfaceSession *session = NULL;
    SegfaceLoadOptions options;
    SegfaceStatus status;
    SegfaceImage image;
    unsigned char *rgb, *rgba, *model_bytes, *labels;
    size_t rgb_len, model_len, labels_stride, labels_len, x, y;
    uint32_t width, height;
    size_t row_stride;
    FILE *out;
    if (argc != 6) {
        fprintf(stderr, "usage: %s MODEL IMAGE.rgb WIDTH HEIGHT OUT\n", argv[0]);
        return 2;
    }
    width = (uint32_t)atoi(argv[3]);
    height = (uint32_t)atoi(argv[4]);

    CHECK(segface_abi_version() == SEGFACE_ABI_VERSION);
    CHECK(strlen(segface_version()) > 0);
    CHECK(strcmp(segface_status_str(SEGFACE_STATUS_ERR_BUFFER_TOO_SMALL), "buffer too small") == 0);
    CHECK(segface_status_str(12345) != NULL);

    /* Errors: NULL arguments, missing file, garbage bytes. */
    CHECK(segface_model_load_file(NULL, &model) == SEGFACE_STATUS_ERR_NULL_POINTER);
    CHECK(model == NULL && segface_last_error() != NULL);
    CHECK(segface_model_load_file(argv[1], NULL) == SEGFACE_STATUS_ERR_NULL_POINTER);
    CHECK(segface_model_load_file("/nonexistent/model.onnx", &bad) == SEGFACE_STATUS_ERR_IO);
    CHECK(bad == NULL);
    CHECK(segface_model_load_memory((const uint8_t *)"garbage", 7, &bad) == SEGFACE_STATUS_ERR_INVALID_MODEL);
    CHECK(bad == NULL && strlen(segface_last_error()) > 0);
    segface_model_free(NULL);
    segface_model_free(&bad);

    /* Integrity: a file whose SHA-256 is not the expected one is refused. */
    CHECK(segface_model_load_file_verified(argv[1],
              "0000000000000000000000000000000000000000000000000000000000000000", &bad)
          == SEGFACE_STATUS_ERR_HASH_MISMATCH);
    CHECK(bad == NULL && strstr(segface_last_error(), "expected 0000") != NULL);
    CHECK(segface_model_load_file_verified(argv[1], "not-a-hash", &bad) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(segface_model_load_file_verified(argv[1], NULL, &bad) == SEGFACE_STATUS_ERR_NULL_POINTER);
    CHECK(segface_model_load_memory_verified((const uint8_t *)"garbage", 7,
              "0000000000000000000000000000000000000000000000000000000000000000", &bad)
          == SEGFACE_STATUS_ERR_HASH_MISMATCH);
    CHECK(bad == NULL);

    /* Load from a file and from memory. */
    CHECK(segface_model_load_file(argv[1], &model) == SEGFACE_STATUS_OK);
    CHECK(model != NULL && segface_last_error() == NULL);
    model_bytes = read_file(argv[1], &model_len);
    CHECK(model_bytes != NULL);
    CHECK(segface_model_load_memory(model_bytes, model_len, &from_memory) == SEGFACE_STATUS_OK);
    free(model_bytes); /* the library copied them */
    CHECK(segface_model_num_classes(model) == 19);
    CHECK(segface_model_num_classes(from_memory) == 19);
    CHECK(strcmp(segface_model_class_name(model, 14), "hair") == 0);
    CHECK(segface_model_class_name(model, 19) == NULL);
    CHECK(segface_model_class_name(NULL, 0) == NULL);
    CHECK(segface_model_resolution(model) == 256);
    segface_model_free(&from_memory);
    CHECK(from_memory == NULL);

    /* Load options: defaults are float32; bad options are refused; f16 needs a CPU that computes
     * it natively or an explicit request to emulate it. */
    CHECK(segface_load_options_default(NULL) == SEGFACE_STATUS_ERR_NULL_POINTER);
    CHECK(segface_load_options_default(&options) == SEGFACE_STATUS_OK);
    CHECK(options.struct_size == sizeof options && options.precision == SEGFACE_PRECISION_F32);
    CHECK(segface_model_load_file_with(argv[1], &options, &from_memory) == SEGFACE_STATUS_OK);
    CHECK(segface_model_precision(from_memory) == SEGFACE_PRECISION_F32);
    segface_model_free(&from_memory);
    CHECK(segface_model_load_file_with(argv[1], NULL, &from_memory) == SEGFACE_STATUS_OK);
    segface_model_free(&from_memory);
    options.struct_size = 4;
    CHECK(segface_model_load_file_with(argv[1], &options, &bad) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(bad == NULL && strstr(segface_last_error(), "struct_size") != NULL);
    options.struct_size = sizeof options;
    options.precision = 7;
    CHECK(segface_model_load_file_with(argv[1], &options, &bad) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    options.precision = SEGFACE_PRECISION_F32;
    options.expected_sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
    CHECK(segface_model_load_file_with(argv[1], &options, &bad) == SEGFACE_STATUS_ERR_HASH_MISMATCH);
    options.expected_sha256 = NULL;
    options.precision = SEGFACE_PRECISION_F16;
    if (segface_f16_available()) {
        CHECK(segface_model_load_file_with(argv[1], &options, &f16) == SEGFACE_STATUS_OK);
    } else {
        CHECK(segface_model_load_file_with(argv[1], &options, &bad) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
        CHECK(bad == NULL && strstr(segface_last_error(), "f16") != NULL);
        options.emulate_f16 = 1;
        status = segface_model_load_file_with(argv[1], &options, &f16);
        /* Linked as a plain static archive, tract's (generic) f16 kernels may be left out by the
         * linker: then a clear refusal, never a failure inside the engine. */
        CHECK(status == SEGFACE_STATUS_OK
              || (status == SEGFACE_STATUS_ERR_INVALID_ARGUMENT && strstr(segface_last_error(), "f16 kernels") != NULL));
    }
    CHECK(f16 == NULL || segface_model_precision(f16) == SEGFACE_PRECISION_F16);
    CHECK(segface_model_precision(NULL) == SEGFACE_PRECISION_F32);
    segface_model_free(&f16);

    CHECK(segface_session_create(model, &session) == SEGFACE_STATUS_OK);
    /* The session keeps the model alive: free our handle before parsing. */
    segface_model_free(&model);

    /* RGBA with 16 bytes of padding per row. */
    rgb = read_file(argv[2], &rgb_len);
    CHECK(rgb != NULL && rgb_len == (size_t)width * height * 3);
    row_stride = (size_t)width * 4 + 16;
    rgba = calloc(row_stride * height, 1);
    for (y = 0; y < height; y++)
        for (x = 0; x < width; x++) {
            memcpy(rgba + y * row_stride + x * 4, rgb + (y * width + x) * 3, 3);
            rgba[y * row_stride + x * 4 + 3] = 255;
        }
    image.struct_size = sizeof(image);
    image.format = SEGFACE_PIXEL_FORMAT_RGBA8;
    image.width = width;
    image.height = height;
    image.data = rgba;
    image.data_len = row_stride * height;
    image.row_stride = row_stride;

    /* Labels with 3 bytes of padding per row plus a canary after the end. */
    labels_stride = width + 3;
    labels_len = labels_stride * (height - 1) + width;
    labels = malloc(labels_len + 64);
    memset(labels, 0xEE, labels_len + 64);

    CHECK(segface_parse(NULL, &image, labels, labels_len, labels_stride) == SEGFACE_STATUS_ERR_NULL_POINTER);
    CHECK(segface_parse(session, NULL, labels, labels_len, labels_stride) == SEGFACE_STATUS_ERR_NULL_POINTER);
    CHECK(segface_parse(session, &image, NULL, labels_len, labels_stride) == SEGFACE_STATUS_ERR_NULL_POINTER);
    CHECK(segface_parse(session, &image, labels, labels_len - 1, labels_stride) == SEGFACE_STATUS_ERR_BUFFER_TOO_SMALL);
    CHECK(segface_parse(session, &image, labels, labels_len, width - 1) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(segface_parse(session, &image, labels, labels_len, (size_t)-1) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    image.row_stride = (size_t)-1;
    CHECK(segface_parse(session, &image, labels, labels_len, labels_stride) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    image.row_stride = row_stride;
    /* The last row needs no padding: one byte less than a full last row is too small. */
    image.data_len = row_stride * (height - 1) + (size_t)width * 4 - 1;
    CHECK(segface_parse(session, &image, labels, labels_len, labels_stride) == SEGFACE_STATUS_ERR_BUFFER_TOO_SMALL);
    image.data_len = row_stride * height;
    image.row_stride = (size_t)width * 4 - 1;
    CHECK(segface_parse(session, &image, labels, labels_len, labels_stride) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    image.row_stride = row_stride;
    image.format = 99;
    CHECK(segface_parse(session, &image, labels, labels_len, labels_stride) == SEGFACE_STATUS_ERR_UNSUPPORTED_FORMAT);
    image.format = SEGFACE_PIXEL_FORMAT_RGBA8;
    image.struct_size = 8;
    CHECK(segface_parse(session, &image, labels, labels_len, labels_stride) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    image.struct_size = sizeof(image);
    image.width = 0;
    CHECK(segface_parse(session, &image, labels, labels_len, labels_stride) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    image.width = width;
    for (x = 0; x < labels_len + 64; x++) CHECK(labels[x] == 0xEE);

    CHECK(segface_parse(session, &image, labels, labels_len, labels_stride) == SEGFACE_STATUS_OK);
    CHECK(segface_last_error() == NULL);
    for (y = 0; y + 1 < height; y++)
        for (x = width; x < labels_stride; x++) CHECK(labels[y * labels_stride + x] == 0xEE);
    for (x = labels_len; x < labels_len + 64; x++) CHECK(labels[x] == 0xEE);

    out = fopen(argv[5], "wb");
    CHECK(out != NULL);
    for (y = 0; y < height; y++) fwrite(labels + y * labels_stride, 1, width, out);
    fclose(out);

    segface_session_free(&session);
    CHECK(session == NULL);
    segface_session_free(&session);
    free(labels);
    free(rgba);
    free(rgb);
    if (failures) fprintf(stderr, "%d checks failed\n", failures);
    else printf("c api: all checks passed\n");
    return failures ? 1 : 0;
}
