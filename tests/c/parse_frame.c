/* A C99 program parsing camera frames the way an Android or iOS app hands them over: NV21 with
 * padded rows, I420, and a packed frame in sensor orientation (rotated 90 degrees, mirrored),
 * plus a face box inside a larger frame and the error paths of SegfaceFrame.
 * Usage: parse_frame MODEL.onnx IMAGE.rgb WIDTH HEIGHT OUT.labels (WIDTH, HEIGHT even).
 * OUT.labels receives three label maps of the upright image: RGB path, NV21 path, I420 path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segface.h"
#include "test_util.h"

static unsigned char clamp255(double v) {
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
}

static SegfaceFrame new_frame(SegfacePixelFormat format, uint32_t width, uint32_t height) {
    SegfaceFrame frame;
    memset(&frame, 0, sizeof frame);
    frame.struct_size = sizeof frame;
    frame.format = format;
    frame.width = width;
    frame.height = height;
    frame.yuv_range = SEGFACE_YUV_RANGE_FULL;
    return frame;
}

int main(int argc, char **argv) {
    SegfaceModel *model = NULL;
    SegfaceSession *session = NULL;
    SegfaceFrame frame;
    SegfaceFace face;
    unsigned char *rgb, *y_plane, *vu, *u, *v, *rotated, *big, *labels, *upright;
    size_t rgb_len, w, h, cw, ch, x, yy, pad = 32, stride, i;
    FILE *out;
    if (argc != 6) {
        fprintf(stderr, "usage: %s MODEL IMAGE.rgb WIDTH HEIGHT OUT\n", argv[0]);
        return 2;
    }
    w = (size_t)atoi(argv[3]);
    h = (size_t)atoi(argv[4]);
    cw = w / 2;
    ch = h / 2;
    rgb = read_file(argv[2], &rgb_len);
    CHECK(rgb != NULL && rgb_len == w * h * 3 && w % 2 == 0 && h % 2 == 0);
    if (failures) return 1;
    CHECK(segface_model_load_file(argv[1], &model) == SEGFACE_STATUS_OK);
    CHECK(segface_session_create(model, &session) == SEGFACE_STATUS_OK);
    segface_model_free(&model);
    upright = malloc(w * h * 3);

    /* 1. The plain RGB frame. */
    frame = new_frame(SEGFACE_PIXEL_FORMAT_RGB8, (uint32_t)w, (uint32_t)h);
    frame.planes[0].data = rgb;
    frame.planes[0].data_len = rgb_len;
    frame.planes[0].row_stride = w * 3;
    CHECK(segface_parse_frame(session, &frame, NULL, upright, w * h, w) == SEGFACE_STATUS_OK);

    /* 2. NV21 (full-range BT.601, chroma averaged over 2x2), rows padded by 32 bytes. */
    stride = w + pad;
    y_plane = calloc(stride * h, 1);
    vu = calloc(stride * ch, 1);
    for (yy = 0; yy < h; yy++)
        for (x = 0; x < w; x++) {
            const unsigned char *p = rgb + (yy * w + x) * 3;
            y_plane[yy * stride + x] = clamp255(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]);
        }
    u = malloc(cw * ch);
    v = malloc(cw * ch);
    for (yy = 0; yy < ch; yy++)
        for (x = 0; x < cw; x++) {
            double su = 0, sv = 0;
            int k;
            for (k = 0; k < 4; k++) {
                const unsigned char *p = rgb + ((yy * 2 + (size_t)(k / 2)) * w + x * 2 + (size_t)(k % 2)) * 3;
                su += -0.168736 * p[0] - 0.331264 * p[1] + 0.5 * p[2] + 128.0;
                sv += 0.5 * p[0] - 0.418688 * p[1] - 0.081312 * p[2] + 128.0;
            }
            u[yy * cw + x] = clamp255(su / 4);
            v[yy * cw + x] = clamp255(sv / 4);
            vu[yy * stride + 2 * x] = v[yy * cw + x];
            vu[yy * stride + 2 * x + 1] = u[yy * cw + x];
        }
    labels = malloc(w * h * 3);
    frame = new_frame(SEGFACE_PIXEL_FORMAT_NV21, (uint32_t)w, (uint32_t)h);
    frame.planes[0].data = y_plane;
    frame.planes[0].data_len = stride * h;
    frame.planes[0].row_stride = stride;
    frame.planes[1].data = vu;
    frame.planes[1].data_len = stride * ch;
    frame.planes[1].row_stride = stride;
    CHECK(segface_parse_frame(session, &frame, NULL, labels + w * h, w * h, w) == SEGFACE_STATUS_OK);

    /* Error paths on this descriptor: each leaves the labels untouched. */
    memset(labels, 0xAB, w * h);
    frame.planes[1].data_len = stride * ch - pad - 1; /* one byte short */
    CHECK(segface_parse_frame(session, &frame, NULL, labels, w * h, w) == SEGFACE_STATUS_ERR_BUFFER_TOO_SMALL);
    frame.planes[1].data_len = stride * ch;
    frame.rotation_degrees = 45;
    CHECK(segface_parse_frame(session, &frame, NULL, labels, w * h, w) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    frame.rotation_degrees = 0;
    frame.planes[1].data = NULL;
    CHECK(segface_parse_frame(session, &frame, NULL, labels, w * h, w) == SEGFACE_STATUS_ERR_NULL_POINTER);
    frame.planes[1].data = vu;
    frame.struct_size = 8;
    CHECK(segface_parse_frame(session, &frame, NULL, labels, w * h, w) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    frame.struct_size = sizeof frame;
    frame.format = 99;
    CHECK(segface_parse_frame(session, &frame, NULL, labels, w * h, w) == SEGFACE_STATUS_ERR_UNSUPPORTED_FORMAT);
    frame.format = SEGFACE_PIXEL_FORMAT_NV21;
    CHECK(segface_parse_frame(session, &frame, NULL, labels, w * h - 1, w) == SEGFACE_STATUS_ERR_BUFFER_TOO_SMALL);
    CHECK(segface_parse_frame(NULL, &frame, NULL, labels, w * h, w) == SEGFACE_STATUS_ERR_NULL_POINTER);
    CHECK(segface_parse_frame(session, NULL, NULL, labels, w * h, w) == SEGFACE_STATUS_ERR_NULL_POINTER);
    for (i = 0; i < w * h; i++) CHECK(labels[i] == 0xAB);

    /* 3. I420, tightly packed. */
    frame = new_frame(SEGFACE_PIXEL_FORMAT_I420, (uint32_t)w, (uint32_t)h);
    frame.planes[0].data = y_plane;
    frame.planes[0].data_len = stride * h;
    frame.planes[0].row_stride = stride;
    frame.planes[1].data = u;
    frame.planes[1].data_len = cw * ch;
    frame.planes[1].row_stride = cw;
    frame.planes[2].data = v;
    frame.planes[2].data_len = cw * ch;
    frame.planes[2].row_stride = cw;
    CHECK(segface_parse_frame(session, &frame, NULL, labels + 2 * w * h, w * h, w) == SEGFACE_STATUS_OK);

    /* 4. A BGRA frame in sensor orientation that needs 90 degrees clockwise and a mirror to be
     * upright: upright pixel (x, y) is mirrored to (w-1-x, y), and rotating back puts it at frame
     * pixel (y, x) of the h x w frame. The labels must be exactly the RGB ones. */
    rotated = malloc(w * h * 4);
    for (yy = 0; yy < h; yy++)
        for (x = 0; x < w; x++) {
            size_t mx = w - 1 - x, fx = yy, fy = w - 1 - mx;
            unsigned char *q = rotated + (fy * h + fx) * 4;
            const unsigned char *p = rgb + (yy * w + x) * 3;
            q[0] = p[2];
            q[1] = p[1];
            q[2] = p[0];
            q[3] = 255;
        }
    frame = new_frame(SEGFACE_PIXEL_FORMAT_BGRA8, (uint32_t)h, (uint32_t)w);
    frame.planes[0].data = rotated;
    frame.planes[0].data_len = w * h * 4;
    frame.planes[0].row_stride = h * 4;
    frame.rotation_degrees = 90;
    frame.mirror = 1;
    {
        unsigned char *sensor_labels = malloc(w * h);
        size_t differ = 0;
        CHECK(segface_parse_frame(session, &frame, NULL, sensor_labels, w * h, h) == SEGFACE_STATUS_OK);
        for (yy = 0; yy < h; yy++)
            for (x = 0; x < w; x++) {
                size_t mx = w - 1 - x, fx = yy, fy = w - 1 - mx;
                if (sensor_labels[fy * h + fx] != upright[yy * w + x]) differ++;
            }
        CHECK(differ == 0);
        free(sensor_labels);
    }

    /* 5. The image pasted into a frame twice its width: a face box finds it in place. */
    big = malloc(w * 2 * h * 3);
    memset(big, 100, w * 2 * h * 3);
    for (yy = 0; yy < h; yy++) memcpy(big + (yy * w * 2 + w) * 3, rgb + yy * w * 3, w * 3);
    frame = new_frame(SEGFACE_PIXEL_FORMAT_RGB8, (uint32_t)(w * 2), (uint32_t)h);
    frame.planes[0].data = big;
    frame.planes[0].data_len = w * 2 * h * 3;
    frame.planes[0].row_stride = w * 2 * 3;
    memset(&face, 0, sizeof face);
    face.struct_size = sizeof face;
    face.x = (float)w;
    face.y = 0;
    face.width = (float)w;
    face.height = (float)h;
    {
        unsigned char *frame_labels = malloc(w * 2 * h);
        size_t same = 0, outside_nonzero = 0;
        CHECK(segface_parse_frame(session, &frame, &face, frame_labels, w * 2 * h, w * 2) == SEGFACE_STATUS_OK);
        for (yy = 0; yy < h; yy++)
            for (x = 0; x < w; x++) {
                same += frame_labels[yy * w * 2 + w + x] == upright[yy * w + x];
                outside_nonzero += frame_labels[yy * w * 2 + x] != 0;
            }
        printf("face box: %.3f %% of labels as the image alone\n", 100.0 * (double)same / (double)(w * h));
        CHECK(same * 1000 >= w * h * 999);
        CHECK(outside_nonzero == 0);
        face.struct_size = 4;
        CHECK(segface_parse_frame(session, &frame, &face, frame_labels, w * 2 * h, w * 2) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
        free(frame_labels);
    }

    memcpy(labels, upright, w * h);
    out = fopen(argv[5], "wb");
    CHECK(out != NULL && fwrite(labels, 1, w * h * 3, out) == w * h * 3);
    if (out) fclose(out);
    segface_session_free(&session);
    free(rgb);
    free(y_plane);
    free(vu);
    free(u);
    free(v);
    free(rotated);
    free(big);
    free(labels);
    free(upright);
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("c frames: all checks passed\n");
    return 0;
}
