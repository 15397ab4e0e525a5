// The C++ wrapper's face features: detect, parse placed by landmarks into labels and a hair
// mask, follow the face through a video. Usage: faces MODEL IMAGE.rgb WIDTH HEIGHT OUT DETECTOR
// OUT receives the landmarks-placed labels, then the third video frame's labels.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

#include "segface.hpp"

static int failures = 0;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            std::cerr << __FILE__ << ":" << __LINE__ << ": check failed: " #cond "\n"; \
            failures++;                                                              \
        }                                                                            \
    } while (0)

int main(int argc, char **argv) {
    if (argc != 7) {
        std::cerr << "usage: faces MODEL IMAGE.rgb WIDTH HEIGHT OUT DETECTOR\n";
        return 2;
    }
    std::ifstream in(argv[2], std::ios::binary);
    std::vector<uint8_t> rgb((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const uint32_t w = static_cast<uint32_t>(std::stoul(argv[3])), h = static_cast<uint32_t>(std::stoul(argv[4]));
    const size_t plane = static_cast<size_t>(w) * h;
    segface::FrameRef frame = segface::FrameRef::packed(segface::ImageRef::rgb(rgb.data(), w, h, w * 3));
    std::vector<uint8_t> labels(plane), hair(plane), video_labels(plane);
    try {
        segface::Model model = segface::Model::load(argv[1]);
        segface::Detector detector = segface::Detector::load(argv[6]);
        std::vector<segface::Detection> found = detector.detect(frame);
        CHECK(found.size() == 1);
        if (found.empty()) return 1;
        CHECK(found[0].score > 0.9f && found[0].crop.width > found[0].box.width);

        segface::Session session(model);
        segface::Outputs out;
        out.labels = labels.data();
        out.labels_len = labels.size();
        out.labels_stride = w;
        out.class_set_mask = hair.data();
        out.class_set_mask_len = hair.size();
        out.class_set_mask_stride = w;
        out.class_set = segface::ClassSet{}.with(14);
        session.parse_frame(frame, {found[0].landmarks_face()}, out);
        for (size_t i = 0; i < plane; i++) CHECK(hair[i] == (labels[i] == 14 ? 255 : 0));
        // One face through the single-face call: the same labels.
        CHECK(session.parse_frame(frame, found[0].landmarks_face()) == labels);
        // A plain box still converts to a face.
        session.parse_frame(frame, segface::FaceBox{found[0].crop.x, found[0].crop.y, found[0].crop.width,
                                                    found[0].crop.height});

        segface::VideoOptions options;
        options.smoothing = 0.0f;
        options.detect_every = 3;
        segface::Video video(model, &detector, options);
        segface::Outputs video_out;
        video_out.labels = video_labels.data();
        video_out.labels_len = video_labels.size();
        video_out.labels_stride = w;
        for (int k = 0; k < 3; k++) {
            video.parse(frame, video_out);
            CHECK(video.faces().size() == 1);
        }
        CHECK(video_labels == session.parse_frame(frame, found[0].box_face()));
        video.reset();
        CHECK(video.faces().empty());
        try {
            options.smoothing = 1.0f;
            segface::Video bad(model, nullptr, options);
            CHECK(false);
        } catch (const segface::Error &e) {
            CHECK(e.status() == SEGFACE_STATUS_ERR_INVALID_ARGUMENT);
        }
    } catch (const segface::Error &e) {
        std::cerr << "unexpected error: " << e.what() << "\n";
        return 1;
    }
    std::ofstream out(argv[5], std::ios::binary);
    out.write(reinterpret_cast<const char *>(labels.data()), static_cast<std::streamsize>(plane));
    out.write(reinterpret_cast<const char *>(video_labels.data()), static_cast<std::streamsize>(plane));
    return failures ? 1 : 0;
}
