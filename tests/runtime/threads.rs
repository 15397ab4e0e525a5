//! Threads: one model shared by 8 threads (a session each) gives exactly the single-thread
//! labels; one session driven from two threads at once through the C ABI is reported busy
//! instead of racing; a session with its own thread pool gives the single-thread labels.
#![cfg(feature = "convert")]

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use segface::ffi::*;
use segface::{ImageView, Model, Session};

const fn shareable<T: Send + Sync>() {}
const fn sendable<T: Send>() {}
// Compile-time guarantees: a model may be shared, a session moved to another thread.
const _: () = shareable::<Model>();
const _: () = sendable::<Session>();

/// Two different inputs, so that a session mixing up its state between frames would show.
fn inputs() -> Vec<(Vec<u8>, u32, u32)> {
    let photo = astronaut_rgb();
    let (_, golden_rgb) = Golden::load().u8("input_rgb_u8");
    vec![(photo.as_raw().clone(), photo.width(), photo.height()), (golden_rgb, 256, 256)]
}

#[test]
fn eight_threads_on_one_model_match_one_thread_exactly() {
    let model = model_256();
    let inputs = inputs();
    let parse = |session: &mut Session, (rgb, w, h): &(Vec<u8>, u32, u32)| {
        session.parse(&ImageView::rgb(rgb, *w, *h).unwrap()).unwrap().labels
    };
    let mut single = model.session().unwrap();
    let expected: Vec<Vec<u8>> = inputs.iter().map(|i| parse(&mut single, i)).collect();

    let parses = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for t in 0..8 {
            let (inputs, expected, parses) = (&inputs, &expected, &parses);
            let model = model.clone();
            scope.spawn(move || {
                let mut session = model.session().unwrap();
                for round in 0..3 {
                    let k = (t + round) % inputs.len();
                    let labels = parse(&mut session, &inputs[k]);
                    assert!(labels == expected[k], "thread {t} round {round}: labels differ from one thread");
                    parses.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(parses.load(Ordering::Relaxed), 24);
}

#[test]
fn a_session_with_a_thread_pool_gives_the_single_thread_labels() {
    let inputs = inputs();
    let mut single = model_256().session().unwrap();
    let mut pooled = model_256().session().unwrap();
    pooled.set_threads(3).unwrap();
    assert_eq!(pooled.threads(), 3);
    for (rgb, w, h) in &inputs {
        let view = ImageView::rgb(rgb, *w, *h).unwrap();
        // The pool splits each matrix product by output panels: every sum is the same.
        assert_eq!(pooled.parse(&view).unwrap(), single.parse(&view).unwrap());
    }
    for bad in [0, 65] {
        assert!(pooled.set_threads(bad).is_err());
    }
    assert_eq!(pooled.threads(), 3);
}

/// One session and one image descriptor handed to two threads.
struct Shared {
    session: *mut SegfaceSession,
    image: SegfaceImage,
}
// SAFETY: the point of the test is to hand one session to two threads; the library must
// serialise them (it reports SEGFACE_STATUS_ERR_SESSION_BUSY). The image is only read.
unsafe impl Sync for Shared {}

impl Shared {
    fn parse(&self, labels: &mut [u8]) -> SegfaceStatus {
        unsafe { segface_parse(self.session, &self.image, labels.as_mut_ptr(), labels.len(), 256) }
    }
}

#[test]
fn one_session_from_two_threads_is_reported_busy_not_raced() {
    let bytes = onnx_256();
    let mut model: *mut SegfaceModel = std::ptr::null_mut();
    let mut session: *mut SegfaceSession = std::ptr::null_mut();
    unsafe {
        assert_eq!(segface_model_load_memory(bytes.as_ptr(), bytes.len(), &mut model), SegfaceStatus::Ok);
        assert_eq!(segface_session_create(model, &mut session), SegfaceStatus::Ok);
    }
    let (_, rgb) = Golden::load().u8("input_rgb_u8");
    let expected =
        model_256().session().unwrap().parse(&ImageView::rgb(&rgb, 256, 256).unwrap()).unwrap().labels;
    let image = SegfaceImage {
        struct_size: std::mem::size_of::<SegfaceImage>() as u32,
        format: SEGFACE_PIXEL_FORMAT_RGB8,
        width: 256,
        height: 256,
        data: rgb.as_ptr(),
        data_len: rgb.len(),
        row_stride: 256 * 3,
    };
    let shared = Shared { session, image };
    let busy_seen = AtomicBool::new(false);
    let (ok, busy) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(120);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let mut labels = vec![0u8; 256 * 256];
                while !busy_seen.load(Ordering::Acquire) && Instant::now() < deadline {
                    match shared.parse(&mut labels) {
                        SegfaceStatus::Ok => {
                            assert!(labels == expected, "a parse that succeeded produced other labels");
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        SegfaceStatus::ErrSessionBusy => {
                            let message = unsafe { std::ffi::CStr::from_ptr(segface_last_error()) };
                            assert!(message.to_string_lossy().contains("one session per thread"));
                            busy.fetch_add(1, Ordering::Relaxed);
                            busy_seen.store(true, Ordering::Release);
                        }
                        other => panic!("unexpected status {other:?}"),
                    }
                }
            });
        }
    });
    println!(
        "{} parses succeeded, {} reported busy",
        ok.load(Ordering::Relaxed),
        busy.load(Ordering::Relaxed)
    );
    assert!(busy_seen.load(Ordering::Relaxed), "two threads never overlapped in 120 s");
    unsafe {
        segface_session_free(&mut session);
        segface_model_free(&mut model);
    }
}
