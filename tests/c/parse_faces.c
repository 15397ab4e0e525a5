/* A C99 program using the face features of the C API as an AR filter would: detect the face,
 * parse it placed by its landmarks into a label map, soft masks and a hair mask, then follow it
 * through a short video with a video session; plus the error paths of these calls.
 * Usage: parse_faces MODEL.onnx IMAGE.rgb WIDTH HEIGHT OUT DETECTOR.onnx
 * OUT receives: labels (W*H), soft masks of background and hair (2*W*H), hair mask (W*H), the
 * labels of the third video frame (W*H). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segface.h"
#include "test_util.h"

#define HAIR 14

static SegfaceOutputs labels_only(unsigned char *labels, size_t w, size_t h) {
    SegfaceOutputs o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.labels = labels;
    o.labels_len = w * h;
    o.labels_stride = w;
    return o;
}

int main(int argc, char **argv) {
    SegfaceModel *model = NULL;
    SegfaceSession *session = NULL;
    SegfaceDetector *detector = NULL;
    SegfaceVideo *video = NULL;
    SegfaceVideoOptions options;
    SegfaceFrame frame;
    SegfaceDetection found[4];
    SegfaceFace face, faces[2];
    SegfaceOutputs outputs;
    unsigned char *rgb, *labels, *soft, *hair, *video_labels, *other;
    size_t rgb_len, w, h, count = 99, i, k;
    FILE *out;
    if (argc != 7) {
        fprintf(stderr, "usage: %s MODEL IMAGE.rgb WIDTH HEIGHT OUT DETECTOR\n", argv[0]);
        return 2;
    }
    w = (size_t)atoi(argv[3]);
    h = (size_t)atoi(argv[4]);
    rgb = read_file(argv[2], &rgb_len);
    CHECK(rgb != NULL && rgb_len == w * h * 3);
    if (failures) return 1;
    CHECK(segface_model_load_file(argv[1], &model) == SEGFACE_STATUS_OK);
    CHECK(segface_session_create(model, &session) == SEGFACE_STATUS_OK);
    CHECK(segface_detector_load_file(argv[6], 0, &detector) == SEGFACE_STATUS_OK);
    if (failures) return 1;

    memset(&frame, 0, sizeof frame);
    frame.struct_size = sizeof frame;
    frame.format = SEGFACE_PIXEL_FORMAT_RGB8;
    frame.width = (uint32_t)w;
    frame.height = (uint32_t)h;
    frame.planes[0].data = rgb;
    frame.planes[0].data_len = rgb_len;
    frame.planes[0].row_stride = w * 3;

    /* 1. Detect: ask for the count first, then the faces. */
    CHECK(segface_detect(detector, &frame, 0.7f, NULL, 0, &count) == SEGFACE_STATUS_OK);
    CHECK(count == 1);
    memset(found, 0, sizeof found);
    found[0].struct_size = sizeof found[0];
    CHECK(segface_detect(detector, &frame, 0.7f, found, 4, &count) == SEGFACE_STATUS_OK);
    CHECK(count == 1 && found[0].score > 0.9f && found[0].struct_size == sizeof found[0]);
    CHECK(found[0].crop_width > found[0].width && found[0].landmarks[0] < found[0].landmarks[2]);
    printf("face %.0f,%.0f %.0fx%.0f score %.3f\n", found[0].x, found[0].y, found[0].width, found[0].height,
           found[0].score);

    /* 2. Parse it placed by its landmarks: labels, soft masks (background, hair), hair mask. */
    memset(&face, 0, sizeof face);
    face.struct_size = sizeof face;
    face.kind = SEGFACE_FACE_LANDMARKS;
    memcpy(face.landmarks, found[0].landmarks, sizeof face.landmarks);
    labels = malloc(w * h);
    soft = malloc(2 * w * h);
    hair = malloc(w * h);
    outputs = labels_only(labels, w, h);
    outputs.soft_masks = soft;
    outputs.soft_masks_len = 2 * w * h;
    outputs.soft_masks_stride = w;
    outputs.soft_masks_plane_stride = w * h;
    outputs.soft_mask_classes = (1u << 0) | (1u << HAIR);
    outputs.class_set_mask = hair;
    outputs.class_set_mask_len = w * h;
    outputs.class_set_mask_stride = w;
    outputs.class_set = 1u << HAIR;
    CHECK(segface_parse_frame_outputs(session, &frame, &face, 1, &outputs) == SEGFACE_STATUS_OK);
    for (i = 0; i < w * h; i++) {
        CHECK(hair[i] == (labels[i] == HAIR ? 255 : 0));
        /* The winner of 19 classes has at least 1/19 of the probability. */
        if (labels[i] == HAIR) CHECK(soft[w * h + i] >= 13 && soft[w * h + i] + 1 >= soft[i]);
        if (labels[i] == 0) CHECK(soft[i] >= 13 && soft[i] + 1 >= soft[w * h + i]);
    }

    /* The same face through segface_parse_frame gives the same labels. */
    other = malloc(w * h);
    CHECK(segface_parse_frame(session, &frame, &face, other, w * h, w) == SEGFACE_STATUS_OK);
    CHECK(memcmp(other, labels, w * h) == 0);

    /* Two threads for the matrix products: the same labels. */
    CHECK(segface_session_set_threads(session, 0) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(segface_session_set_threads(session, 2) == SEGFACE_STATUS_OK);
    CHECK(segface_parse_frame(session, &frame, &face, other, w * h, w) == SEGFACE_STATUS_OK);
    CHECK(memcmp(other, labels, w * h) == 0);
    CHECK(segface_session_set_threads(session, 1) == SEGFACE_STATUS_OK);

    /* A face struct from a 0.1 caller (box only, 20 bytes) is a box. */
    memset(&faces, 0, sizeof faces);
    faces[0].struct_size = 20;
    faces[0].x = found[0].crop_x;
    faces[0].y = found[0].crop_y;
    faces[0].width = found[0].crop_width;
    faces[0].height = found[0].crop_height;
    CHECK(segface_parse_frame(session, &frame, &faces[0], other, w * h, w) == SEGFACE_STATUS_OK);

    /* Error paths: each leaves the outputs untouched. */
    memset(other, 0xAB, w * h);
    outputs = labels_only(other, w, h);
    face.kind = 7;
    CHECK(segface_parse_frame_outputs(session, &frame, &face, 1, &outputs) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    face.kind = SEGFACE_FACE_LANDMARKS;
    CHECK(segface_parse_frame_outputs(session, &frame, NULL, 1, &outputs) == SEGFACE_STATUS_ERR_NULL_POINTER);
    CHECK(segface_parse_frame_outputs(session, &frame, &face, SEGFACE_MAX_FACES + 1, &outputs) ==
          SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    faces[0].struct_size = sizeof faces[0];
    faces[1].struct_size = 20; /* elements must agree */
    CHECK(segface_parse_frame_outputs(session, &frame, faces, 2, &outputs) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    outputs.class_set_mask = other + 10; /* overlaps the labels */
    outputs.class_set_mask_len = w * h - 10;
    outputs.class_set_mask_stride = w;
    outputs.class_set = 1u << HAIR;
    CHECK(segface_parse_frame_outputs(session, &frame, &face, 1, &outputs) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    outputs = labels_only(other, w, h);
    outputs.labels_len = w * h - 1;
    CHECK(segface_parse_frame_outputs(session, &frame, &face, 1, &outputs) == SEGFACE_STATUS_ERR_BUFFER_TOO_SMALL);
    outputs = labels_only(NULL, w, h);
    CHECK(segface_parse_frame_outputs(session, &frame, &face, 1, &outputs) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    outputs = labels_only(other, w, h);
    outputs.struct_size = 8;
    CHECK(segface_parse_frame_outputs(session, &frame, &face, 1, &outputs) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    found[0].struct_size = 4;
    CHECK(segface_detect(detector, &frame, 0.7f, found, 4, &count) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(segface_detect(detector, &frame, 2.0f, NULL, 0, &count) == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(segface_detect(detector, &frame, 0.7f, NULL, 0, NULL) == SEGFACE_STATUS_ERR_NULL_POINTER);
    CHECK(segface_detect(NULL, &frame, 0.7f, NULL, 0, &count) == SEGFACE_STATUS_ERR_NULL_POINTER);
    for (i = 0; i < w * h; i++) CHECK(other[i] == 0xAB);

    /* 3. A video: detection on frame 1, reused on frames 2 and 3, no smoothing. */
    CHECK(segface_video_options_default(&options) == SEGFACE_STATUS_OK);
    CHECK(options.struct_size == sizeof options && options.detect_every == 5);
    options.smoothing = 0.0f;
    options.detect_every = 3;
    CHECK(segface_video_create(model, detector, &options, &video) == SEGFACE_STATUS_OK);
    /* The model and detector may go: the video session keeps what it needs. */
    segface_detector_free(&detector);
    segface_model_free(&model);
    CHECK(detector == NULL && model == NULL);
    video_labels = malloc(w * h);
    outputs = labels_only(video_labels, w, h);
    for (k = 0; k < 3; k++) {
        CHECK(segface_video_parse(video, &frame, NULL, 0, &outputs) == SEGFACE_STATUS_OK);
        memset(found, 0, sizeof found);
        found[0].struct_size = sizeof found[0];
        CHECK(segface_video_faces(video, found, 4, &count) == SEGFACE_STATUS_OK);
        CHECK(count == 1 && found[0].score > 0.9f);
    }
    CHECK(segface_video_reset(video) == SEGFACE_STATUS_OK);
    CHECK(segface_video_faces(video, NULL, 0, &count) == SEGFACE_STATUS_OK && count == 0);
    options.smoothing = 1.0f;
    {
        SegfaceVideo *bad = NULL;
        CHECK(segface_video_create(model, NULL, &options, &bad) == SEGFACE_STATUS_ERR_NULL_POINTER);
        CHECK(bad == NULL);
    }
    CHECK(segface_video_parse(NULL, &frame, NULL, 0, &outputs) == SEGFACE_STATUS_ERR_NULL_POINTER);
    CHECK(segface_video_reset(NULL) == SEGFACE_STATUS_ERR_NULL_POINTER);
    segface_video_free(&video);
    segface_video_free(&video);
    CHECK(video == NULL);
    segface_session_free(&session);

    out = fopen(argv[5], "wb");
    CHECK(out != NULL);
    if (out) {
        CHECK(fwrite(labels, 1, w * h, out) == w * h);
        CHECK(fwrite(soft, 1, 2 * w * h, out) == 2 * w * h);
        CHECK(fwrite(hair, 1, w * h, out) == w * h);
        CHECK(fwrite(video_labels, 1, w * h, out) == w * h);
        fclose(out);
    }
    free(rgb);
    free(labels);
    free(soft);
    free(hair);
    free(other);
    free(video_labels);
    return failures ? 1 : 0;
}
